package peerwire

import (
	"strconv"
	"strings"
)

// Client names a peer's software from its peer id: the Azureus style
// "-LT2080-" of most clients (two letters, four version characters), the
// "A2-1-36-0-" of aria2, and Mainline's "M7-4-3--". Unknown styles give "".
//
// Examples: "-LT2080-…" → "libtorrent 2.0.8", "-TR3000-…" → "Transmission
// 3.00", "-qB4620-…" → "qBittorrent 4.6.2".
func Client(peerID [20]byte) string {
	id := peerID[:]
	if id[0] == '-' && id[7] == '-' {
		code := string(id[1:3])
		name, ok := azureus[code]
		ver := id[3:7]
		if !ok {
			if !isAlnum(id[1]) || !isAlnum(id[2]) {
				return ""
			}
			name = "unknown client " + code
		}
		for _, c := range ver {
			if !isAlnum(c) && c != '.' && c != '-' {
				return name
			}
		}
		return name + " " + azureusVersion(code, ver)
	}
	if s := string(id); strings.HasPrefix(s, "A2-") {
		// aria2: "A2-" major "-" minor "-" patch "-"
		parts := strings.SplitN(s[3:], "-", 4)
		if len(parts) == 4 && allDigits(parts[0]) && allDigits(parts[1]) && allDigits(parts[2]) {
			return "aria2 " + parts[0] + "." + parts[1] + "." + parts[2]
		}
	}
	if id[0] == 'M' && isDigit(id[1]) && id[2] == '-' {
		// Mainline: "M" major "-" minor "-" patch "-" (a digit each, mostly)
		parts := strings.SplitN(string(id[1:8]), "-", 4)
		if len(parts) >= 3 && allDigits(parts[0]) && allDigits(parts[1]) && allDigits(parts[2]) {
			return "BitTorrent (Mainline) " + parts[0] + "." + parts[1] + "." + parts[2]
		}
	}
	return ""
}

// azureus maps the two-letter codes of Azureus-style peer ids to names:
// the clients seen in public swarms.
var azureus = map[string]string{
	"AG": "Ares", "A~": "Ares", "AZ": "Vuze", "BB": "BitBuddy", "BC": "BitComet", "BI": "BiglyBT",
	"BN": "Baidu Netdisk", "BR": "BitRocket", "BT": "BitTorrent", "BW": "BitWombat", "CD": "Enhanced CTorrent",
	"DE": "Deluge", "EB": "EBit", "FD": "Free Download Manager", "FG": "FlashGet", "FW": "FrostWire",
	"GR": "GetRight", "GT": "anacrolix/torrent", "HL": "Halite", "KG": "KGet", "KT": "KTorrent",
	"LP": "Lphant", "LT": "libtorrent", "lt": "libTorrent (rakshasa)", "LW": "LimeWire", "MG": "MediaGet",
	"MO": "MonoTorrent", "NX": "Net Transport", "PB": "Protocol::BitTorrent", "PF": "peerfind",
	"PI": "PicoTorrent", "qB": "qBittorrent", "QD": "QQDownload", "RT": "Retriever", "SD": "Thunder (Xunlei)",
	"SP": "BitSpirit", "ST": "SymTorrent", "TB": "Torch", "TL": "Tribler", "TR": "Transmission",
	"TS": "Torrentstorm", "TT": "TuoTu", "UE": "µTorrent Embedded", "UL": "uLeecher!", "UM": "µTorrent Mac",
	"UT": "µTorrent", "UW": "µTorrent Web", "VG": "Vagaa", "WD": "WebTorrent Desktop", "WT": "BitLet",
	"WW": "WebTorrent", "WY": "FireTorrent", "XL": "Xunlei", "XX": "Xtorrent", "ZT": "ZipTorrent",
	"7T": "aTorrent", "BF": "BitFlu", "bk": "BitKitten", "FX": "Freebox BitTorrent", "LH": "LH-ABC",
	"MR": "Miro", "OS": "OneSwarm", "RZ": "RezTorrent", "TN": "TorrentDotNET", "XC": "XTorrent",
}

// azureusVersion reads the four version characters. Transmission before
// 4.0 writes major, then a two-digit minor ("3000" → 3.00, "2940" →
// 2.94); µTorrent and friends end with a build letter ("355W" → 3.5.5);
// most others give one character per component ("2080" → 2.0.8), with a
// trailing zero component dropped.
func azureusVersion(code string, v []byte) string {
	if code == "TR" && allDigits(string(v)) && v[0] < '4' {
		return string(v[0]) + "." + string(v[1:3])
	}
	var parts []string
	for i, c := range v {
		switch {
		case isDigit(c):
			parts = append(parts, string(c))
		case c >= 'A' && c <= 'Z' && i == 3 && strings.HasPrefix(code, "U"):
			// µTorrent's build letter (B beta, W web): not a number
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
			// hex-style digits of libtorrent & co: "A" is 10
			n, err := strconv.ParseUint(string(c), 36, 8)
			if err != nil {
				return string(v)
			}
			parts = append(parts, strconv.FormatUint(n, 10))
		default:
			return strings.Trim(string(v), "-.")
		}
	}
	for len(parts) > 2 && parts[len(parts)-1] == "0" {
		parts = parts[:len(parts)-1]
	}
	return strings.Join(parts, ".")
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '~'
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
