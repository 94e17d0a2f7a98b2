//! Colours by name as matplotlib knows them (the CSS names, `tab:` colours, hex).

/// matplotlib's `tab10` colour cycle.
pub const TAB10: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// `lightgray`: the land fill.
pub const LIGHTGRAY: [u8; 3] = [211, 211, 211];
/// `darkgray`: the land edges.
pub const DARKGRAY: [u8; 3] = [169, 169, 169];
/// `darkgreen`: tiles with every year.
pub const DARKGREEN: [u8; 3] = [0, 100, 0];
/// `darkblue`: tiles with only the latest year.
pub const DARKBLUE: [u8; 3] = [0, 0, 139];
/// `darkorange`: tiles with some years.
pub const DARKORANGE: [u8; 3] = [255, 140, 0];

const NAMED: &[(&str, [u8; 3])] = &[
    ("black", [0, 0, 0]),
    ("white", [255, 255, 255]),
    ("red", [255, 0, 0]),
    ("green", [0, 128, 0]),
    ("blue", [0, 0, 255]),
    ("yellow", [255, 255, 0]),
    ("orange", [255, 165, 0]),
    ("purple", [128, 0, 128]),
    ("magenta", [255, 0, 255]),
    ("fuchsia", [255, 0, 255]),
    ("cyan", [0, 255, 255]),
    ("aqua", [0, 255, 255]),
    ("lime", [0, 255, 0]),
    ("navy", [0, 0, 128]),
    ("teal", [0, 128, 128]),
    ("olive", [128, 128, 0]),
    ("maroon", [128, 0, 0]),
    ("brown", [165, 42, 42]),
    ("pink", [255, 192, 203]),
    ("gold", [255, 215, 0]),
    ("gray", [128, 128, 128]),
    ("grey", [128, 128, 128]),
    ("silver", [192, 192, 192]),
    ("lightgray", LIGHTGRAY),
    ("lightgrey", LIGHTGRAY),
    ("darkgray", DARKGRAY),
    ("darkgrey", DARKGRAY),
    ("darkgreen", DARKGREEN),
    ("darkblue", DARKBLUE),
    ("darkorange", DARKORANGE),
    ("darkred", [139, 0, 0]),
    ("firebrick", [178, 34, 34]),
    ("crimson", [220, 20, 60]),
    ("tomato", [255, 99, 71]),
    ("coral", [255, 127, 80]),
    ("salmon", [250, 128, 114]),
    ("violet", [238, 130, 238]),
    ("indigo", [75, 0, 130]),
    ("steelblue", [70, 130, 180]),
    ("royalblue", [65, 105, 225]),
    ("skyblue", [135, 206, 235]),
    ("forestgreen", [34, 139, 34]),
    ("seagreen", [46, 139, 87]),
    ("limegreen", [50, 205, 50]),
    ("k", [0, 0, 0]),
    ("w", [255, 255, 255]),
    ("r", [255, 0, 0]),
    ("g", [0, 128, 0]),
    ("b", [0, 0, 255]),
    ("y", [191, 191, 0]),
    ("c", [0, 191, 191]),
    ("m", [191, 0, 191]),
];

const TAB_NAMES: [&str; 10] = [
    "blue", "orange", "green", "red", "purple", "brown", "pink", "gray", "olive", "cyan",
];

/// Parses a colour: a name (`red`, `darkgreen`, `tab:blue`) or `#rrggbb` / `#rgb`.
pub fn parse_color(s: &str) -> Option<[u8; 3]> {
    let s = s.trim().to_ascii_lowercase();
    if let Some(hex) = s.strip_prefix('#') {
        let v = |i: usize, n: usize| u8::from_str_radix(hex.get(i..i + n)?, 16).ok();
        return match hex.len() {
            6 => Some([v(0, 2)?, v(2, 2)?, v(4, 2)?]),
            3 => Some([v(0, 1)? * 17, v(1, 1)? * 17, v(2, 1)? * 17]),
            _ => None,
        };
    }
    if let Some(t) = s.strip_prefix("tab:") {
        let t = if t == "grey" { "gray" } else { t };
        return TAB_NAMES.iter().position(|n| *n == t).map(|i| TAB10[i]);
    }
    NAMED.iter().find(|(n, _)| *n == s).map(|(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_hex_parse() {
        assert_eq!(parse_color("red"), Some([255, 0, 0]));
        assert_eq!(parse_color("DarkOrange"), Some([255, 140, 0]));
        assert_eq!(parse_color("tab:blue"), Some([31, 119, 180]));
        assert_eq!(parse_color("#0a0B0c"), Some([10, 11, 12]));
        assert_eq!(parse_color("#fff"), Some([255, 255, 255]));
        assert_eq!(parse_color("nocolour"), None);
        assert_eq!(parse_color("#12"), None);
    }
}
