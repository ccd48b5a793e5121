//! Terminal safety: text output never carries a raw control character from
//! the input. A bundle id, a path, a panic field or a zone name may hold
//! ESC, BEL, CR or a newline; printed raw they could write the clipboard
//! (OSC 52), make links (OSC 8), move the cursor, clear the screen, or
//! forge a line such as `kcheck: all caches OK`.
//!
//! Two layers: [`escape`] makes a value visible (`\x1b`, `\n`) where the
//! renderers place data, and [`Sanitizer`] is a writer that escapes every
//! control character that still reaches the output — except the newline,
//! kcheck's own colour (SGR: `ESC [ digits ; … m`, only when colour is on)
//! and the live view's home-and-clear (only for `zones --watch`). JSON is
//! escaped by serde_json and does not go through it.

use std::borrow::Cow;
use std::io::{self, Write};

fn is_control(c: char) -> bool {
    c.is_control()
}

/// `s` with every control character (C0, DEL, C1) written as a visible
/// escape: `\n`, `\r`, `\t`, `\x1b`, `\u{9b}`.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && is_control(c) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_control(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A writer that escapes control characters (see the module doc).
pub struct Sanitizer<W: Write> {
    inner: W,
    /// Let kcheck's SGR colour sequences through.
    allow_color: bool,
    /// Let `ESC [ H` and `ESC [ 2 J` through (the `zones --watch` live view).
    allow_clear: bool,
    /// An escape sequence begun but not finished by the last write.
    pending: Vec<u8>,
    /// A trailing 0xc2 byte (maybe the start of a C1 control).
    carry: Option<u8>,
}

impl<W: Write> Sanitizer<W> {
    /// Wrap `inner`.
    pub fn new(inner: W, allow_color: bool, allow_clear: bool) -> Self {
        Sanitizer { inner, allow_color, allow_clear, pending: Vec::new(), carry: None }
    }

    /// The wrapped writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush_pending()?;
        if let Some(c) = self.carry.take() {
            self.inner.write_all(&[c])?;
        }
        Ok(self.inner)
    }

    fn allowed(&self, seq: &[u8]) -> bool {
        let Some(body) = seq.strip_prefix(b"\x1b[") else { return false };
        let Some((&last, params)) = body.split_last() else { return false };
        let params_ok = params.iter().all(|b| b.is_ascii_digit() || *b == b';');
        (self.allow_color && last == b'm' && params_ok) || (self.allow_clear && (body == b"H" || body == b"2J"))
    }

    /// Whether `seq` (starting with ESC) could still become an allowed sequence.
    fn may_grow(&self, seq: &[u8]) -> bool {
        (self.allow_color || self.allow_clear)
            && seq.len() < 16
            && (seq.len() == 1 || (seq[1] == b'[' && seq[2..].iter().all(|b| b.is_ascii_digit() || *b == b';')))
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let seq = std::mem::take(&mut self.pending);
        let text = String::from_utf8_lossy(&seq).into_owned();
        self.inner.write_all(escape(&text).as_bytes())
    }
}

impl<W: Write> Write for Sanitizer<W> {
    fn write(&mut self, input: &[u8]) -> io::Result<usize> {
        let joined;
        let buf: &[u8] = match self.carry.take() {
            Some(c) => {
                joined = [&[c][..], input].concat();
                &joined
            }
            None => input,
        };
        let mut out = Vec::with_capacity(buf.len());
        let mut i = 0;
        while i < buf.len() {
            let b = buf[i];
            if !self.pending.is_empty() {
                self.pending.push(b);
                i += 1;
                let seq = self.pending.clone();
                if self.allowed(&seq) {
                    out.extend_from_slice(&seq);
                    self.pending.clear();
                } else if !self.may_grow(&seq) {
                    self.inner.write_all(&out)?;
                    out.clear();
                    self.flush_pending()?;
                }
                continue;
            }
            if b == 0x1b && (self.allow_color || self.allow_clear) {
                self.pending.push(b);
                i += 1;
                continue;
            }
            // Escape C0 controls (but the newline) and DEL byte by byte;
            // C1 controls arrive as UTF-8 (0xc2 0x80..0x9f).
            if (b < 0x20 && b != b'\n') || b == 0x7f {
                out.extend_from_slice(escape(&(b as char).to_string()).as_bytes());
                i += 1;
                continue;
            }
            if b == 0xc2 && i + 1 == buf.len() {
                self.carry = Some(b);
                i += 1;
                continue;
            }
            if b == 0xc2 && buf.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)) {
                out.extend_from_slice(format!("\\u{{{:x}}}", buf[i + 1]).as_bytes());
                i += 2;
                continue;
            }
            out.push(b);
            i += 1;
        }
        self.inner.write_all(&out)?;
        Ok(input.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], color: bool, clear: bool) -> String {
        let mut s = Sanitizer::new(Vec::new(), color, clear);
        // Byte by byte, so sequences split across writes are handled.
        for b in input {
            s.write_all(&[*b]).unwrap();
        }
        String::from_utf8(s.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn escapes_everything_but_newline_and_allowed_sequences() {
        let hostile = "id\x1b]52;c;aGk=\x07\r\x1b[2J\x1b[1Akcheck: all caches OK\u{9b}31m\n";
        let plain = run(hostile.as_bytes(), false, false);
        assert!(!plain.chars().any(|c| c.is_control() && c != '\n'), "{plain:?}");
        assert_eq!(plain, "id\\x1b]52;c;aGk=\\x07\\r\\x1b[2J\\x1b[1Akcheck: all caches OK\\u{9b}31m\n");
        let coloured = run(b"\x1b[1;31mERROR\x1b[0m \x1b[2J \x1b]8;;x\x1b\\", true, false);
        assert_eq!(coloured, "\x1b[1;31mERROR\x1b[0m \\x1b[2J \\x1b]8;;x\\x1b\\");
        let live = run(b"\x1b[H\x1b[2Jtop\x1b[3J", false, true);
        assert_eq!(live, "\x1b[H\x1b[2Jtop\\x1b[3J");
    }

    #[test]
    fn escape_values() {
        assert_eq!(escape("com.example.Foo"), "com.example.Foo");
        assert_eq!(escape("a\nkcheck: ok\r\x1b"), "a\\nkcheck: ok\\r\\x1b");
    }

    /// A writer whose bytes the test can read while the sanitizer still
    /// holds it: what reached the terminal so far.
    #[derive(Clone, Default)]
    struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An ESC that cannot start an allowed sequence is escaped at once, not
    /// held back (a live view must not stall, and nothing may pile up);
    /// an allowed colour sequence split across writes passes whole.
    #[test]
    fn escapes_that_cannot_be_colour_are_written_at_once() {
        let shared = Shared::default();
        let mut s = Sanitizer::new(shared.clone(), true, false);
        s.write_all(b"\x1b5hello").unwrap();
        assert_eq!(String::from_utf8_lossy(&shared.0.borrow()), "\\x1b5hello");
        // Sixteen bytes of ESC [ digits is already too long for a colour.
        shared.0.borrow_mut().clear();
        s.write_all(b"\x1b[11111111111111").unwrap();
        assert_eq!(String::from_utf8_lossy(&shared.0.borrow()), "\\x1b[11111111111111");
        // A real colour, split in two writes, arrives intact.
        shared.0.borrow_mut().clear();
        s.write_all(b"\x1b[3").unwrap();
        s.write_all(b"1mX").unwrap();
        assert_eq!(String::from_utf8_lossy(&shared.0.borrow()), "\x1b[31mX");
    }

    /// C1 controls (U+0080..U+009F) are written as `\u{..}`, C0 as `\x..`.
    #[test]
    fn c1_controls_use_the_unicode_escape() {
        assert_eq!(escape("\u{80}"), "\\u{80}");
        assert_eq!(escape("\u{9b}"), "\\u{9b}");
        assert_eq!(escape("\u{7f}"), "\\x7f");
        assert_eq!(escape("a\u{1}b"), "a\\x01b");
    }

    /// Flushing the sanitizer flushes the writer under it (the live view
    /// relies on it).
    #[test]
    fn flush_reaches_the_inner_writer() {
        struct Flushes(std::rc::Rc<std::cell::Cell<u32>>);
        impl Write for Flushes {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                self.0.set(self.0.get() + 1);
                Ok(())
            }
        }
        let n = std::rc::Rc::new(std::cell::Cell::new(0));
        let mut s = Sanitizer::new(Flushes(n.clone()), false, false);
        s.flush().unwrap();
        assert_eq!(n.get(), 1);
    }
}
