package pluginstall

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Installed is a plugin the host runs, for Market.
type Installed struct {
	Name, Version, Kind, Description string
}

// MarketEntry is one plugin in the marketplace view: what the sources
// offer and what is installed.
type MarketEntry struct {
	Name        string `json:"name"`
	Kind        string `json:"kind,omitempty"`
	Description string `json:"description,omitempty"`
	// Installed is the active version ("" when not installed) and Kept
	// the previous one kept for a rollback.
	Installed string `json:"installed,omitempty"`
	Kept      string `json:"kept,omitempty"`
	// Offers are the versions the sources offer, newest first.
	Offers []Listing `json:"offers,omitempty"`
}

// Market is the marketplace view (GET /api/v1/marketplace, the
// Marketplace page).
type Market struct {
	Entries []MarketEntry `json:"entries"`
	// Errors are the sources that could not be searched, with why.
	Errors []string `json:"errors,omitempty"`
}

// Market searches every source for text and lists what they offer beside
// what is installed (installed, matched against text too), by name.
func (in *Installer) Market(ctx context.Context, text string, installed []Installed) Market {
	byName := map[string]*MarketEntry{}
	entry := func(name string) *MarketEntry {
		if e, ok := byName[name]; ok {
			return e
		}
		e := &MarketEntry{Name: name}
		byName[name] = e
		return e
	}
	var out Market
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	srcs, err := in.Sources(ctx)
	if err != nil {
		out.Errors = append(out.Errors, err.Error())
	}
	for _, src := range srcs {
		ls, err := src.Search(ctx, text)
		if err != nil {
			out.Errors = append(out.Errors, src.Name()+": "+err.Error())
			continue
		}
		for _, l := range ls {
			if l.Source == "" {
				l.Source = src.Name()
			}
			e := entry(l.Name)
			e.Offers = append(e.Offers, l)
			e.Kind, e.Description = l.Kind, l.Description
		}
	}
	lower := strings.ToLower(text)
	for _, p := range installed {
		if text != "" && !strings.Contains(strings.ToLower(p.Name+" "+p.Description), lower) {
			continue
		}
		e := entry(p.Name)
		e.Installed, e.Kind = p.Version, p.Kind
		if e.Description == "" {
			e.Description = p.Description
		}
		if kept := in.Layout().KeptVersions(p.Name); len(kept) > 0 {
			e.Kept = kept[0]
		}
	}
	for _, e := range byName {
		slices.SortFunc(e.Offers, func(a, b Listing) int {
			if newer(a.Version, b.Version) {
				return -1
			}
			if newer(b.Version, a.Version) {
				return 1
			}
			return strings.Compare(a.Source, b.Source)
		})
		out.Entries = append(out.Entries, *e)
	}
	slices.SortFunc(out.Entries, func(a, b MarketEntry) int { return strings.Compare(a.Name, b.Name) })
	return out
}
