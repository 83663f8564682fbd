//! Web addresses in chat text, so they can be shown as links. Only `http://` and `https://` addresses become
//! links (never `javascript:`, `data:` or anything else), and the text of a link is exactly the address, so what
//! a person sees is where it goes. Everything else stays plain text, addresses longer than [`MAX_LINK_BYTES`]
//! included (so each candidate costs a bounded scan, whatever a message of 64 KiB without spaces holds).

/// Longest address shown as a link, in bytes. Longer ones stay text: they are rare in chat, and scanning each
/// `http` of a long word to its end would make rendering a hostile message quadratic.
pub const MAX_LINK_BYTES: usize = 2048;

/// A piece of a message: plain text, or a web address to show as a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    Link(&'a str),
}

/// Splits `text` into plain text and web addresses, in order; joined again they give `text` back.
pub fn segments(text: &str) -> Vec<Segment<'_>> {
    // Lowered once for the whole text (ASCII lowering keeps every byte offset), not again for each address.
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut plain_from = 0;
    let mut at = 0;
    while let Some(start) = find_scheme(text, &lower, at) {
        let len = link_len(&text[start..]);
        if len == 0 {
            at = start + 1;
            continue;
        }
        if start > plain_from {
            out.push(Segment::Text(&text[plain_from..start]));
        }
        out.push(Segment::Link(&text[start..start + len]));
        plain_from = start + len;
        at = plain_from;
    }
    if plain_from < text.len() {
        out.push(Segment::Text(&text[plain_from..]));
    }
    out
}

/// Byte offset of the next `http://` or `https://` (any case) at or after `from` that starts a word; `lower` is
/// `text` lowered.
fn find_scheme(text: &str, lower: &str, mut from: usize) -> Option<usize> {
    while let Some(i) = lower[from..].find("http") {
        let i = from + i;
        let rest = &lower[i..];
        let starts_word = text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || "([<{\"'".contains(c));
        if starts_word && (rest.starts_with("http://") || rest.starts_with("https://")) {
            return Some(i);
        }
        from = i + 4;
    }
    None
}

/// Length in bytes of the address at the start of `text` (0 when there is no host, or it is longer than
/// [`MAX_LINK_BYTES`]): up to the first space, quote or angle bracket, without trailing punctuation (a closing
/// bracket stays when the address opened it).
fn link_len(text: &str) -> usize {
    let scheme = text.find("//").map_or(0, |i| i + 2);
    let Some(mut end) = text
        .char_indices()
        .take_while(|&(i, _)| i <= MAX_LINK_BYTES)
        .find(|&(_, c)| c.is_whitespace() || c.is_control() || "<>\"`".contains(c))
        .map(|(i, _)| i)
        .or((text.len() <= MAX_LINK_BYTES).then_some(text.len()))
    else {
        return 0; // too long to be shown as a link
    };
    // Brackets still open minus closed in `text[..end]`, counted once and kept up to date while the end moves.
    const PAIRS: [(char, char); 3] = [('(', ')'), ('[', ']'), ('{', '}')];
    let mut balance = PAIRS.map(|(open, close)| {
        text[..end].chars().fold(0i64, |n, c| {
            n + i64::from(c == open) - i64::from(c == close)
        })
    });
    while let Some(last) = text[..end].chars().next_back() {
        let closes_unopened = PAIRS
            .iter()
            .zip(&balance)
            .any(|(&(_, close), &n)| last == close && n < 0);
        if !(".,;:!?'*".contains(last) || closes_unopened) {
            break;
        }
        for ((_, close), n) in PAIRS.iter().zip(&mut balance) {
            *n += i64::from(last == *close);
        }
        end -= last.len_utf8();
    }
    let host = &text[scheme.min(end)..end];
    if host.is_empty() || host.starts_with('/') {
        0
    } else {
        end
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::{segments, Segment, Segment::Link, Segment::Text};

    fn links(text: &str) -> Vec<&str> {
        segments(text)
            .into_iter()
            .filter_map(|s| match s {
                Link(l) => Some(l),
                Text(_) => None,
            })
            .collect()
    }

    fn joined(parts: &[Segment<'_>]) -> String {
        parts
            .iter()
            .map(|s| match s {
                Text(t) | Link(t) => *t,
            })
            .collect()
    }

    #[wasm_bindgen_test]
    fn finds_web_addresses_and_keeps_the_rest_as_text() {
        let text = "see https://example.com/a?b=1&c=2#x, and http://test.org.";
        let parts = segments(text);
        assert_eq!(
            parts,
            vec![
                Text("see "),
                Link("https://example.com/a?b=1&c=2#x"),
                Text(", and "),
                Link("http://test.org"),
                Text("."),
            ]
        );
        assert_eq!(joined(&parts), text);
        assert_eq!(segments("no links here"), vec![Text("no links here")]);
        assert_eq!(segments(""), vec![]);
    }

    #[wasm_bindgen_test]
    fn only_http_and_https_become_links() {
        for text in [
            "javascript:alert(1)",
            "data:text/html,<b>x</b>",
            "file:///etc/passwd",
            "ftp://example.com",
            "xhttps://example.com",
            "https://",
            "https:///path",
            "http:/example.com",
        ] {
            assert_eq!(links(text), Vec::<&str>::new(), "{text}");
            assert_eq!(joined(&segments(text)), text);
        }
        assert_eq!(
            links("HTTPS://Example.COM/x"),
            vec!["HTTPS://Example.COM/x"]
        );
    }

    #[wasm_bindgen_test]
    fn stops_at_quotes_brackets_and_trailing_punctuation() {
        assert_eq!(
            links("(https://example.com/a)"),
            vec!["https://example.com/a"]
        );
        assert_eq!(
            links("https://en.wikipedia.org/wiki/Rust_(language)!"),
            vec!["https://en.wikipedia.org/wiki/Rust_(language)"]
        );
        assert_eq!(
            links("<a href=\"https://evil.example/\">x</a>"),
            vec!["https://evil.example/"]
        );
        assert_eq!(links("'https://a.example'"), vec!["https://a.example"]);
        assert_eq!(
            links("https://a.example\nhttps://b.example"),
            vec!["https://a.example", "https://b.example"]
        );
        assert_eq!(
            links("https://ünï.example/ö?"),
            vec!["https://ünï.example/ö"]
        );
        assert_eq!(
            links("(see https://a.example/x_(y)))."),
            vec!["https://a.example/x_(y)"]
        );
    }

    #[wasm_bindgen_test]
    fn addresses_longer_than_the_limit_stay_text() {
        use super::MAX_LINK_BYTES;
        let longest = format!("https://a.example/{}", "x".repeat(MAX_LINK_BYTES - 18));
        assert_eq!(longest.len(), MAX_LINK_BYTES);
        assert_eq!(links(&format!("{longest} next")), vec![longest.as_str()]);
        assert_eq!(links(&longest), vec![longest.as_str()]);
        let too_long = format!("{longest}y");
        for text in [too_long.clone(), format!("{too_long} https://b.example")] {
            let parts = segments(&text);
            assert_eq!(joined(&parts), text);
            assert!(
                !links(&text).contains(&too_long.as_str()),
                "{}",
                &text[..40]
            );
        }
        assert_eq!(
            links(&format!("{too_long} https://b.example")),
            vec!["https://b.example"]
        );
        // A frame's worth of `(https:///` without a space: every candidate is refused after a bounded scan.
        let hostile = "(https:///".repeat(6_500);
        assert_eq!(links(&hostile), Vec::<&str>::new());
        assert_eq!(joined(&segments(&hostile)), hostile);
    }

    #[wasm_bindgen_test]
    fn many_schemes_without_addresses_stay_text() {
        let text = "http:// ".repeat(5_000) + "https://a.example";
        assert_eq!(links(&text), vec!["https://a.example"]);
        assert_eq!(joined(&segments(&text)), text);
    }
}
