//! A byte-level CSV record scanner with the same record boundaries as
//! polars' reader: every line end outside quotes ends a record, blank lines
//! included; a final line without a line end is a record if it is not empty.
//!
//! It reports where each record starts (byte and line), how many fields it
//! has and whether it is blank, which polars cannot tell once it has parsed
//! only the projected columns.

/// One record as the scanner saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// 0-based index, header included.
    pub index: u64,
    /// Byte offset of the record's first byte.
    pub start: u64,
    /// Byte offset just past its line end (or end of file).
    pub end: u64,
    /// 1-based line the record starts on.
    pub line: u64,
    /// Line ends inside the record (in quoted fields): 0 for one line.
    pub spans: u64,
    pub fields: usize,
    /// The line was empty (or only `\r`).
    pub blank: bool,
    /// A quote inside an unquoted field (`Joe 5" TV`), or text after a
    /// closing quote (`"a"b`): quoting a CSV reader cannot be trusted with.
    pub irregular: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field or inside an unquoted one.
    Unquoted,
    InQuotes,
    /// Just saw a quote inside a quoted field: an escaped quote or the end.
    QuoteInQuotes,
}

/// Feeds bytes, calls back once per complete record.
pub struct Scanner {
    delimiter: u8,
    quote: u8,
    state: State,
    at_field_start: bool,
    fields: usize,
    content: bool,
    irregular: bool,
    spans: u64,
    offset: u64,
    line: u64,
    index: u64,
    start: u64,
    start_line: u64,
}

impl Scanner {
    pub fn new(delimiter: u8) -> Scanner {
        Scanner {
            delimiter,
            quote: b'"',
            state: State::Unquoted,
            at_field_start: true,
            fields: 0,
            content: false,
            irregular: false,
            spans: 0,
            offset: 0,
            line: 1,
            index: 0,
            start: 0,
            start_line: 1,
        }
    }

    pub fn feed(&mut self, chunk: &[u8], mut on_record: impl FnMut(Record)) {
        let mut i = 0;
        while i < chunk.len() {
            // Fast path: at the start of a record, a whole line without quotes
            // is a whole record; count its delimiters in one vectorised pass.
            if self.state == State::Unquoted && self.start == self.offset {
                if let Some(nl) = memchr::memchr(b'\n', &chunk[i..]) {
                    let line = &chunk[i..i + nl];
                    if memchr::memchr(self.quote, line).is_none() {
                        let blank = line.iter().all(|&b| b == b'\r');
                        self.fields = line.iter().filter(|&&b| b == self.delimiter).count();
                        self.content = !blank;
                        self.offset += nl as u64 + 1;
                        self.line += 1;
                        self.emit(&mut on_record);
                        i += nl + 1;
                        continue;
                    }
                }
            }
            self.step(chunk[i], &mut on_record);
            i += 1;
        }
    }

    /// The byte-by-byte state machine, for quoted fields and chunk tails.
    fn step(&mut self, b: u8, on_record: &mut impl FnMut(Record)) {
        {
            self.offset += 1;
            match self.state {
                State::InQuotes => {
                    if b == self.quote {
                        self.state = State::QuoteInQuotes;
                    } else if b == b'\n' {
                        self.line += 1;
                        self.spans += 1;
                    }
                    return;
                }
                State::QuoteInQuotes => {
                    if b == self.quote {
                        self.state = State::InQuotes;
                        return;
                    }
                    if b != self.delimiter && b != b'\n' && b != b'\r' {
                        self.irregular = true;
                    }
                    self.state = State::Unquoted;
                }
                State::Unquoted => {}
            }
            if b == b'\n' {
                self.line += 1;
                self.emit(on_record);
            } else if b == self.delimiter {
                self.fields += 1;
                self.content = true;
                self.at_field_start = true;
            } else if b == self.quote && self.at_field_start {
                self.state = State::InQuotes;
                self.content = true;
                self.at_field_start = false;
            } else if b != b'\r' {
                if b == self.quote {
                    self.irregular = true;
                }
                self.content = true;
                self.at_field_start = false;
            }
        }
    }

    /// A scanner that starts at byte `offset`, on `line`, with record `index`
    /// (after cutting an unclosed quote's first line off, see
    /// [`crate::ingest::fileread::records`]).
    pub fn resume(delimiter: u8, offset: u64, line: u64, index: u64) -> Scanner {
        Scanner { offset, line, index, start: offset, start_line: line, ..Scanner::new(delimiter) }
    }

    /// The pending record, when the input ended inside a quoted field:
    /// (start byte, start line, index).
    pub fn unclosed(&self) -> Option<(u64, u64, u64)> {
        (self.state == State::InQuotes).then_some((self.start, self.start_line, self.index))
    }

    /// Ends the input: a last record without a line end counts if not empty.
    pub fn finish(&mut self, mut on_record: impl FnMut(Record)) {
        if self.content || self.state != State::Unquoted {
            self.emit(&mut on_record);
        }
    }

    fn emit(&mut self, on_record: &mut impl FnMut(Record)) {
        let blank = !self.content;
        on_record(Record {
            index: self.index,
            start: self.start,
            end: self.offset,
            line: self.start_line,
            spans: self.spans,
            fields: if blank { 0 } else { self.fields + 1 },
            blank,
            irregular: self.irregular,
        });
        self.index += 1;
        self.fields = 0;
        self.content = false;
        self.irregular = false;
        self.spans = 0;
        self.at_field_start = true;
        self.state = State::Unquoted;
        self.start = self.offset;
        self.start_line = self.line;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &[u8]) -> Vec<Record> {
        let mut out = Vec::new();
        let mut s = Scanner::new(b',');
        // Feed in small pieces to exercise chunk boundaries.
        for piece in text.chunks(3) {
            s.feed(piece, |r| out.push(r));
        }
        s.finish(|r| out.push(r));
        out
    }

    #[test]
    fn records_lines_and_fields() {
        let recs = scan(b"a,b\r\n1,\"x\ny\"\r\n\r\n\"q\"\"\",2\n3");
        let summary: Vec<(u64, u64, usize, bool)> = recs.iter().map(|r| (r.index, r.line, r.fields, r.blank)).collect();
        assert_eq!(
            summary,
            vec![(0, 1, 2, false), (1, 2, 2, false), (2, 4, 0, true), (3, 5, 2, false), (4, 6, 1, false)]
        );
        assert_eq!((recs[1].start, recs[1].end), (5, 14));
    }

    #[test]
    fn trailing_blank_lines_are_records_but_the_final_newline_is_not() {
        assert_eq!(scan(b"a\n1\n").len(), 2);
        assert_eq!(scan(b"a\n1\n\n").len(), 3);
        assert_eq!(scan(b"a\n1").len(), 2);
    }

    #[test]
    fn fast_and_slow_paths_agree() {
        let text = b"a,b,c\r\n1,2,3\n\r\n\"q\nx\",2,3\n,,\n1,2\n\n4,5,6,7\n\"a\"\"b\",c,d\nlast,1,2";
        // Feeding one byte at a time never takes the fast path (no whole line in view).
        let mut slow = Vec::new();
        let mut s = Scanner::new(b',');
        for b in text.iter() {
            s.feed(std::slice::from_ref(b), |r| slow.push(r));
        }
        s.finish(|r| slow.push(r));
        let mut fast = Vec::new();
        let mut s = Scanner::new(b',');
        s.feed(text, |r| fast.push(r));
        s.finish(|r| fast.push(r));
        assert_eq!(fast, slow);
        assert_eq!(fast.len(), 10);
    }

    #[test]
    fn irregular_quoting_is_flagged() {
        let recs = scan(b"a,b\nJoe 5\" TV,1\n\"a\"b,2\n\"ok \"\"q\"\"\",3\n");
        let flags: Vec<bool> = recs.iter().map(|r| r.irregular).collect();
        assert_eq!(flags, [false, true, true, false]);
    }

    #[test]
    fn empty_fields_are_not_blank() {
        let recs = scan(b"a,b\n,\n");
        assert_eq!((recs[1].fields, recs[1].blank), (2, false));
    }
}
