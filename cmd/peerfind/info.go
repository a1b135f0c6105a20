package main

// `peerfind info TARGET`: what a .torrent file, a magnet link or an info hash
// says, without touching the network.
//
// --json prints one JSON object (fields absent when unknown or empty):
//
//	{"source":"torrent",               "torrent", "magnet" or "hash"
//	 "file":"sintel.torrent",          the path given ("-" for standard input, or the URL); torrents only
//	 "url":"https://…/sintel.torrent", where an http(s) TARGET was downloaded from (a .torrent or a
//	                                   magnet link the server redirected to)
//	 "name":"Sintel",
//	 "size":129302391,                 bytes, pad files excluded (magnets: xl)
//	 "files":11,                       file count, pad files excluded
//	 "piece_length":131072, "pieces":987,
//	 "private":false,
//	 "meta_version":1,                 2 for v2 and hybrid torrents
//	 "info_hash":"<40 hex>",           v1 (SHA-1); for magnets: the first urn:btih
//	 "info_hash_v2":"<64 hex>",        v2 (SHA-256); for magnets: the first urn:btmh
//	 "info_hashes":["<40 hex>"], "info_hashes_v2":["<64 hex>"],  magnets with several hashes
//	 "non_canonical":{"reason":"offset 10: dict keys not sorted …",
//	   "reencoded_info_hash":"<40 hex>", "reencoded_info_hash_v2":"<64 hex>"},
//	                                   only when info is not canonical bencoding: the hashes tools that
//	                                   re-encode it compute; info_hash stays the swarm's (bytes as published)
//	 "swarm_hashes":["<40 hex>"],      the keys looked up on trackers and the DHT
//	 "trackers":[["udp://…"],["…"]],   tiers (BEP 12)
//	 "web_seeds":["https://…"], "dht_nodes":["host:port"], "peers":["host:port"],
//	 "created":"2014-01-01T00:00:00Z", "created_by":"…", "comment":"…",
//	 "file_list":[{"path":"Sintel/Sintel.mp4","length":129241752,"pad":true}],
//	 "magnet":"magnet:?xt=…",
//	 "warnings":["info.files[1].path[0]: component \"..\" dropped"]}

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/magnet"
	"github.com/peerfind/peerfind/metainfo"
)

func newInfoCmd(c *cli) *cobra.Command {
	var asJSON, fetch bool
	ff := &peersFlags{}
	cmd := &cobra.Command{
		Use:   "info TARGET",
		Short: "Show what a .torrent file, magnet link or info hash contains",
		Long: `Show what a TARGET says about its swarm, without using the network: name, size,
files, pieces, trackers by tier, DHT nodes, web seeds, the v1 and v2 info hashes
and the magnet link.

TARGET is a .torrent file, an http(s):// URL of one (downloaded), "-" for a
.torrent on standard input, a magnet link, or a bare info hash (40 hex digits
or 32 base32 characters for v1, 64 hex digits for v2).

With --fetch (for a magnet link or an info hash) the metadata is fetched from
the swarm first, as 'peerfind metadata' does, and the torrent it makes is shown
("source": "fetched"); the search is summed up on standard error.

Exit status: 0 success, 1 unreadable or invalid input, 2 usage error; with
--fetch, 3 when no peer gave the metadata.`,
		Example: `  peerfind info ubuntu.torrent
  peerfind info --json - < ubuntu.torrent
  peerfind info 'magnet:?xt=urn:btih:08ada5a7a6183aae1e09d831df6748d566095a10&dn=Sintel'`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			var v *infoView
			var err error
			if fetch {
				ff.timeoutExplicit = true
				v, err = fetchInfo(cmd, c, args[0], ff)
			} else {
				v, err = loadInfo(cmd.Context(), args[0], c.stdin)
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false) // magnet links are full of &
				return enc.Encode(v)
			}
			return writeInfo(c.stdout, v)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object instead of text")
	cmd.Flags().BoolVar(&fetch, "fetch", false, "fetch a magnet link's metadata from the swarm first (trackers, DHT, peers)")
	cmd.Flags().DurationVar(&ff.search.timeout, "timeout", discovery.DefaultTimeout, "with --fetch: give up after this long")
	cmd.Flags().BoolVar(&ff.search.noDHT, "no-dht", false, "with --fetch: do not use the DHT")
	cmd.Flags().BoolVar(&ff.noTrackers, "no-trackers", false, "with --fetch: do not use the trackers")
	cmd.Flags().BoolVar(&ff.noState, "no-state", false, "with --fetch: neither load nor save the DHT state")
	return cmd
}

// infoView is what `info` prints; its JSON form is documented above.
type infoView struct {
	Source       string     `json:"source"`
	File         string     `json:"file,omitempty"`
	URL          string     `json:"url,omitempty"`
	Name         string     `json:"name,omitempty"`
	Size         int64      `json:"size,omitempty"`
	Files        int        `json:"files,omitempty"`
	PieceLength  int64      `json:"piece_length,omitempty"`
	Pieces       int        `json:"pieces,omitempty"`
	Private      bool       `json:"private,omitempty"`
	MetaVersion  int        `json:"meta_version,omitempty"`
	InfoHash     string     `json:"info_hash,omitempty"`
	InfoHashV2   string     `json:"info_hash_v2,omitempty"`
	InfoHashes   []string   `json:"info_hashes,omitempty"`
	InfoHashesV2 []string   `json:"info_hashes_v2,omitempty"`
	NonCanonical *infoReenc `json:"non_canonical,omitempty"`
	SwarmHashes  []string   `json:"swarm_hashes"`
	Trackers     [][]string `json:"trackers"`
	WebSeeds     []string   `json:"web_seeds,omitempty"`
	DHTNodes     []string   `json:"dht_nodes,omitempty"`
	Peers        []string   `json:"peers,omitempty"`
	Created      string     `json:"created,omitempty"`
	CreatedBy    string     `json:"created_by,omitempty"`
	Comment      string     `json:"comment,omitempty"`
	FileList     []infoFile `json:"file_list,omitempty"`
	Magnet       string     `json:"magnet"`
	Warnings     []string   `json:"warnings,omitempty"`
	meta         *metainfo.MetaInfo
	mag          *magnet.Magnet
}

// infoReenc is the "non_canonical" object of `info --json`.
type infoReenc struct {
	Reason     string `json:"reason"`
	InfoHash   string `json:"reencoded_info_hash,omitempty"`
	InfoHashV2 string `json:"reencoded_info_hash_v2,omitempty"`
}

type infoFile struct {
	Path   string `json:"path"`
	Length int64  `json:"length"`
	Pad    bool   `json:"pad,omitempty"`
}

// loadInfo resolves TARGET with loadTarget, as the other commands do. Every
// failure is exit status 1 and names the input.
func loadInfo(ctx context.Context, arg string, stdin io.Reader) (*infoView, error) {
	t, err := loadTargetContext(ctx, arg, stdin)
	if err != nil {
		return nil, err
	}
	var v *infoView
	if t.meta != nil {
		v = torrentInfo(t.file, t.meta)
	} else {
		v = magnetInfo(t.kind, t.mag)
	}
	v.URL = t.url
	return v, nil
}

// torrentInfo describes a parsed .torrent read from file ("-": stdin).
func torrentInfo(file string, mi *metainfo.MetaInfo) *infoView {
	in := mi.Info
	v := &infoView{
		Source:      "torrent",
		File:        file,
		Name:        in.Name,
		Size:        in.TotalLength,
		PieceLength: in.PieceLength,
		Pieces:      in.NumPieces,
		Private:     in.Private,
		MetaVersion: in.MetaVersion,
		Trackers:    mi.Trackers(),
		WebSeeds:    mi.URLList,
		DHTNodes:    mi.Nodes,
		CreatedBy:   mi.CreatedBy,
		Comment:     mi.Comment,
		Magnet:      magnet.FromMetaInfo(mi).String(),
		Warnings:    mi.Warnings,
		meta:        mi,
	}
	if !mi.InfoHash.IsZero() {
		v.InfoHash = mi.InfoHash.String()
	}
	if !mi.InfoHashV2.IsZero() {
		v.InfoHashV2 = mi.InfoHashV2.String()
	}
	for _, h := range mi.SwarmHashes() {
		v.SwarmHashes = append(v.SwarmHashes, h.String())
	}
	if !mi.CreationDate.IsZero() {
		v.Created = mi.CreationDate.UTC().Format(time.RFC3339)
	}
	if r := mi.Reencoded(); r != nil {
		v.NonCanonical = &infoReenc{Reason: r.Reason}
		if !r.InfoHash.IsZero() {
			v.NonCanonical.InfoHash = r.InfoHash.String()
		}
		if !r.InfoHashV2.IsZero() {
			v.NonCanonical.InfoHashV2 = r.InfoHashV2.String()
		}
	}
	for _, f := range in.Files {
		if !f.Pad {
			v.Files++
		}
		v.FileList = append(v.FileList, infoFile{Path: strings.Join(f.Path, "/"), Length: f.Length, Pad: f.Pad})
	}
	if v.Trackers == nil {
		v.Trackers = [][]string{}
	}
	return v
}

// magnetInfo describes a magnet link or bare hash: only what it carries.
func magnetInfo(source string, m *magnet.Magnet) *infoView {
	v := &infoView{
		Source:   source,
		Name:     m.Name,
		Size:     m.Length,
		WebSeeds: m.WebSeeds,
		Peers:    m.Peers,
		Trackers: [][]string{},
		Magnet:   m.String(),
		Warnings: m.Warnings,
		mag:      m,
	}
	for _, h := range m.InfoHashes {
		v.InfoHashes = append(v.InfoHashes, h.String())
	}
	for _, h := range m.InfoHashesV2 {
		v.InfoHashesV2 = append(v.InfoHashesV2, h.String())
	}
	if len(v.InfoHashes) > 0 {
		v.InfoHash = v.InfoHashes[0]
	}
	if len(v.InfoHashesV2) > 0 {
		v.InfoHashV2 = v.InfoHashesV2[0]
	}
	if len(v.InfoHashes) < 2 {
		v.InfoHashes = nil
	}
	if len(v.InfoHashesV2) < 2 {
		v.InfoHashesV2 = nil
	}
	for _, h := range m.SwarmHashes() {
		v.SwarmHashes = append(v.SwarmHashes, h.String())
	}
	// A magnet's trackers have no tiers; each is announced to on its own
	// (BEP 9 lists them flat).
	for _, t := range m.Trackers {
		v.Trackers = append(v.Trackers, []string{t})
	}
	return v
}

// writeInfo prints the human summary: one "Label: value" line per fact, and
// indented lists. Text from the torrent is stripped of control characters so
// a hostile name cannot drive the terminal.
func writeInfo(w io.Writer, v *infoView) error {
	var b strings.Builder
	line := func(label, value string) {
		fmt.Fprintf(&b, "%-14s%s\n", label+":", value)
	}
	list := func(label string, items []string) {
		if len(items) == 0 {
			return
		}
		line(label, printable(items[0]))
		for _, it := range items[1:] {
			fmt.Fprintf(&b, "%-14s%s\n", "", printable(it))
		}
	}
	if v.URL != "" {
		line("Downloaded", printable(v.URL))
	}
	if v.Name != "" {
		line("Name", printable(v.Name))
	}
	if v.meta != nil {
		line("Size", humanBytes(v.Size))
		line("Files", groupDigits(int64(v.Files)))
		if multiFile(v.meta) {
			writeFileList(&b, v.FileList)
		}
		line("Pieces", fmt.Sprintf("%s × %s", groupDigits(int64(v.Pieces)), pieceSize(v.PieceLength)))
		line("Private", yesNo(v.Private))
		switch {
		case v.InfoHash != "" && v.InfoHashV2 != "":
			line("Version", "hybrid (v1 + v2, BEP 52)")
		case v.InfoHashV2 != "":
			line("Version", "v2 (BEP 52)")
		default:
			line("Version", "v1")
		}
	} else if v.Size > 0 {
		line("Size", humanBytes(v.Size))
	}
	hashes := v.InfoHashes
	if hashes == nil && v.InfoHash != "" {
		hashes = []string{v.InfoHash}
	}
	list("Info hash v1", hashes)
	hashes = append([]string(nil), v.InfoHashesV2...)
	if len(hashes) == 0 && v.InfoHashV2 != "" {
		hashes = []string{v.InfoHashV2}
	}
	for i, h := range hashes {
		hashes[i] = h + " (swarm " + h[:40] + ")"
	}
	list("Info hash v2", hashes)
	if r := v.NonCanonical; r != nil {
		// Said out loud: a tool that re-encodes the info dictionary shows
		// another hash, and a user comparing the two must know which one
		// the swarm uses.
		line("Canonical", "no: "+printable(r.Reason))
		if r.InfoHash != "" {
			line("Re-encoded", r.InfoHash+" (v1)")
		}
		if r.InfoHashV2 != "" {
			line("Re-encoded", r.InfoHashV2+" (v2)")
		}
		b.WriteString("              Tools that decode and re-encode the info dictionary (WebTorrent's\n" +
			"              parse-torrent, the Python recipe sha1(bencode(decode(info)))) compute\n" +
			"              that hash instead. The swarm is keyed by the hash of the bytes as\n" +
			"              published, shown above, which BitTorrent clients use (BEP 3); so does peerfind.\n")
	}
	if v.Created != "" {
		line("Created", v.Created)
	}
	if v.CreatedBy != "" {
		line("Created by", printable(v.CreatedBy))
	}
	if v.Comment != "" {
		// A comment's own line breaks are kept, as continuation lines,
		// rather than shown as control characters.
		lines := strings.Split(strings.TrimRight(strings.ReplaceAll(v.Comment, "\r\n", "\n"), "\n"), "\n")
		list("Comment", lines)
	}
	if len(v.Trackers) == 0 {
		line("Trackers", "none")
	} else if v.meta != nil {
		b.WriteString("Trackers:\n")
		for i, tier := range v.Trackers {
			for j, u := range tier {
				label := ""
				if j == 0 {
					label = "tier " + strconv.Itoa(i+1) + ":"
				}
				fmt.Fprintf(&b, "  %-12s%s\n", label, printable(u))
			}
		}
	} else {
		var flat []string
		for _, tier := range v.Trackers {
			flat = append(flat, tier...)
		}
		list("Trackers", flat)
	}
	list("Web seeds", v.WebSeeds)
	list("DHT nodes", v.DHTNodes)
	list("Peers", v.Peers)
	if v.meta == nil {
		line("Metadata", "not included (fetched from peers when needed)")
	}
	line("Magnet", v.Magnet)
	warnings := v.Warnings
	if len(warnings) > infoListWarnings {
		more := len(warnings) - infoListWarnings
		warnings = append(warnings[:infoListWarnings:infoListWarnings], "... and "+groupDigits(int64(more))+" more (--json lists them all)")
	}
	list("Warnings", warnings)
	_, err := io.WriteString(w, b.String())
	return err
}

// multiFile reports whether a torrent is a directory of files, even of
// one: its file's path is then not just the torrent's name, and is shown.
func multiFile(mi *metainfo.MetaInfo) bool {
	files := mi.Info.Files
	return len(files) != 1 || len(files[0].Path) != 1 || files[0].Path[0] != mi.Info.Name
}

// How many files and warnings the text output lists; --json lists all.
const (
	infoListFiles    = 10
	infoListWarnings = 20
)

// writeFileList lists the first files of a multi-file torrent, pad files
// aside, with their sizes.
func writeFileList(b *strings.Builder, files []infoFile) {
	shown, total := 0, 0
	for _, f := range files {
		if f.Pad {
			continue
		}
		total++
		if shown < infoListFiles {
			fmt.Fprintf(b, "  %s (%s)\n", printable(f.Path), shortBytes(f.Length))
			shown++
		}
	}
	if total > shown {
		fmt.Fprintf(b, "  ... and %s more (--json lists them all)\n", groupDigits(int64(total-shown)))
	}
}

// shortBytes formats a size in one unit: "6.2 MiB", "425 bytes".
func shortBytes(n int64) string {
	s := humanBytes(n)
	if i := strings.Index(s, " ("); i >= 0 {
		return s[:i]
	}
	return s
}

// humanBytes formats a size as "1.4 GiB (1,503,238,553 bytes)".
func humanBytes(n int64) string {
	if n < 1024 {
		if n == 1 {
			return "1 byte"
		}
		return groupDigits(n) + " bytes"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f := float64(n) / 1024
	u := 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	return fmt.Sprintf("%.1f %s (%s bytes)", f, units[u], groupDigits(n))
}

// pieceSize formats a piece length: "256 KiB", or bytes when not a whole
// number of KiB.
func pieceSize(n int64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB"}
	u := 0
	for n >= 1024 && n%1024 == 0 && u < len(units)-1 {
		n /= 1024
		u++
	}
	return groupDigits(n) + " " + units[u]
}

// groupDigits writes n with thousands separators: 1,503,238,553.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printable replaces control characters (including ESC, which starts
// terminal escape sequences) with U+FFFD.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}
