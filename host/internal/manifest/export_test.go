package manifest

// LoadFor is Load for a given platform, so tests do not depend on the
// machine they run on.
var LoadFor = load

// Suggest exposes the "did you mean" matcher.
var Suggest = suggest
