//! Reading and writing dataset files.
//!
//! Reading detects zstd by its magic bytes (`28 b5 2f fd`), whatever the file is called;
//! writing compresses when the path ends in `.zst`. Records are written one per line with the
//! header first, in the field order of [`crate::format`].

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::DatasetError;
use crate::format::Dataset;
use crate::validate::RecordChecker;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// zstd level for written files: datasets are written once and read many times.
const ZSTD_LEVEL: i32 = 12;

/// Numbered lines of a (possibly compressed) file.
pub(crate) struct LineReader {
    path: PathBuf,
    reader: Box<dyn BufRead>,
    line_no: usize,
    buf: String,
}

impl LineReader {
    /// The next line as (1-based number, text without the newline), or `None` at the end.
    pub(crate) fn next_line(&mut self) -> Result<Option<(usize, String)>, DatasetError> {
        self.buf.clear();
        let n = self
            .reader
            .read_line(&mut self.buf)
            .map_err(|e| DatasetError::io(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        let line = self.buf.trim_end_matches(['\n', '\r']).to_owned();
        Ok(Some((self.line_no, line)))
    }
}

/// Opens `path` for line reading, decompressing zstd if the content starts with its magic.
pub(crate) fn open_lines(path: &Path) -> Result<LineReader, DatasetError> {
    let mut file = File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let mut magic = [0u8; 4];
    let got = read_up_to(&mut file, &mut magic).map_err(|e| DatasetError::io(path, e))?;
    let prefix = std::io::Cursor::new(magic[..got].to_vec());
    let raw = prefix.chain(file);
    let reader: Box<dyn BufRead> = if got == 4 && magic == ZSTD_MAGIC {
        let decoder =
            zstd::stream::read::Decoder::new(raw).map_err(|e| DatasetError::io(path, e))?;
        Box::new(BufReader::with_capacity(1 << 16, decoder))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, raw))
    };
    Ok(LineReader {
        path: path.to_owned(),
        reader,
        line_no: 0,
        buf: String::new(),
    })
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Reads a whole dataset, checking every line; the first problem is returned as
/// [`DatasetError::Invalid`] with its line and field (run [`crate::validate_file`] to see all).
pub fn read_dataset(path: &Path) -> Result<Dataset, DatasetError> {
    let mut lines = open_lines(path)?;
    let invalid = |line: usize, (field, message): (String, String)| DatasetError::Invalid {
        path: path.to_owned(),
        line,
        field,
        message,
    };
    let Some((first_no, first)) = lines.next_line()? else {
        return Err(DatasetError::Empty { path: path.into() });
    };
    let mut checker = RecordChecker::from_header_line(&first)
        .map_err(|issues| invalid(first_no, first_issue(issues)))?;
    let mut records = Vec::new();
    while let Some((line_no, line)) = lines.next_line()? {
        if line.trim().is_empty() {
            continue;
        }
        let record = checker
            .check(&line)
            .map_err(|issues| invalid(line_no, first_issue(issues)))?;
        records.push(record);
    }
    Ok(Dataset {
        header: checker.into_header(),
        records,
    })
}

fn first_issue(mut issues: Vec<(String, String)>) -> (String, String) {
    if issues.is_empty() {
        (String::from("-"), String::from("invalid"))
    } else {
        issues.swap_remove(0)
    }
}

/// Writes `dataset` to `path`, zstd-compressed when the path ends in `.zst`.
pub fn write_dataset(path: &Path, dataset: &Dataset) -> Result<(), DatasetError> {
    let io = |e| DatasetError::io(path, e);
    let file = File::create(path).map_err(io)?;
    let compressed = path.extension().is_some_and(|e| e == "zst");
    if compressed {
        let encoder = zstd::stream::write::Encoder::new(file, ZSTD_LEVEL).map_err(io)?;
        let mut out = BufWriter::new(encoder);
        write_lines(&mut out, dataset).map_err(io)?;
        let encoder = out.into_inner().map_err(|e| io(e.into_error()))?;
        encoder.finish().map_err(io)?;
    } else {
        let mut out = BufWriter::new(file);
        write_lines(&mut out, dataset).map_err(io)?;
        out.flush().map_err(io)?;
    }
    Ok(())
}

/// Writes the header and records as JSON Lines.
pub fn write_lines(out: &mut dyn Write, dataset: &Dataset) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &dataset.header)?;
    out.write_all(b"\n")?;
    for record in &dataset.records {
        serde_json::to_writer(&mut *out, record)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Header, PoolSpec, Record, ReplicaSpec};
    use serde_json::json;

    fn tiny() -> Dataset {
        let header = Header::new(vec![PoolSpec {
            name: String::from("p"),
            replicas: vec![
                ReplicaSpec {
                    name: String::from("a"),
                    slots: 2,
                },
                ReplicaSpec {
                    name: String::from("b"),
                    slots: 1,
                },
            ],
            cache_invalidation: crate::format::CacheInvalidation::Announced,
        }]);
        let full = Record {
            t_ms: 1.5,
            session: String::from("s1"),
            pool: String::from("p"),
            method: String::from("tools/call"),
            target: String::from("echo"),
            args: json!({"text": "hi", "n": [1, 2.5, null]}),
            service_ms: [(String::from("a"), 3.25), (String::from("b"), 9.0)].into(),
            errors: [(String::from("b"), String::from("boom"))].into(),
            served_by: None,
            latency_ms: None,
            answer: Some(String::from("x1")),
            invalidates: vec![String::from("file:///x")],
            links: vec![String::from("file:///y")],
        };
        let partial = Record {
            t_ms: 2.0,
            service_ms: Default::default(),
            errors: Default::default(),
            served_by: Some(String::from("a")),
            latency_ms: Some(4.0),
            answer: None,
            invalidates: Vec::new(),
            links: Vec::new(),
            ..full.clone()
        };
        Dataset {
            header,
            records: vec![full, partial],
        }
    }

    #[test]
    fn round_trip_plain_and_zstd() {
        let dir = tempfile::tempdir().unwrap();
        let data = tiny();
        for name in ["d.jsonl", "d.jsonl.zst"] {
            let path = dir.path().join(name);
            write_dataset(&path, &data).unwrap();
            assert_eq!(read_dataset(&path).unwrap(), data, "{name}");
        }
        // Compression is detected by content, not by name.
        let renamed = dir.path().join("renamed.jsonl");
        std::fs::rename(dir.path().join("d.jsonl.zst"), &renamed).unwrap();
        assert_eq!(read_dataset(&renamed).unwrap(), data);
    }

    #[test]
    fn empty_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "").unwrap();
        assert!(matches!(
            read_dataset(&empty),
            Err(DatasetError::Empty { .. })
        ));
        let missing = dir.path().join("missing.jsonl");
        assert!(matches!(
            read_dataset(&missing),
            Err(DatasetError::Io { .. })
        ));
    }
}
