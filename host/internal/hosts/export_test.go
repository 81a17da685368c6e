package hosts

// SyncPasses is how many times r's appliers have read the store (each
// kind's pass counts once): a test that checks what a host applied waits
// for the passes its listener's connection started.
func SyncPasses(r *Registry) int64 { return r.passes.Load() }
