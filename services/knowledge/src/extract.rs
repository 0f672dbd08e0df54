//! Text extraction from documents: plain text and markup as text, HTML without its tags,
//! PDF through `pdf-extract`, DOCX by reading its `word/document.xml`.
//!
//! Documents come from outside, so every read is bounded: ZIP containers are checked for
//! bombs (declared sizes, compression ratio, entry count) before inflating and inflate no
//! more than [`MAX_INFLATED_BYTES`]; extraction runs off the async threads, with panics
//! caught and a deadline ([`extract_off_thread`]).

use std::io::Read;
use std::time::Duration;

/// Why a document could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExtractError {
    /// The type is not supported.
    #[error("unsupported file type: {0}")]
    Unsupported(String),
    /// The document is damaged.
    #[error("cannot read the {0} document: {1}")]
    Damaged(&'static str, String),
    /// The document inflates past the limits (a decompression bomb).
    #[error("the {0} document is too large when decompressed (limit {MAX_INFLATED_BYTES} bytes, ratio {MAX_RATIO})")]
    TooLarge(&'static str),
    /// Extraction took longer than [`EXTRACT_TIMEOUT`].
    #[error("reading the document took too long")]
    TimedOut,
}

/// Most bytes a ZIP container may inflate to.
pub const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;
/// Highest compression ratio of a ZIP entry larger than 1 MiB.
pub const MAX_RATIO: u64 = 200;
/// Most entries of a ZIP container.
pub const MAX_ENTRIES: usize = 10_000;
/// Longest extraction of one document.
pub const EXTRACT_TIMEOUT: Duration = Duration::from_secs(60);

/// Refuses a ZIP container (DOCX, XLSX, ZIP) that would inflate past the limits, from its
/// central directory alone. Not a ZIP: damaged.
pub fn check_archive(bytes: &[u8], kind: &'static str) -> Result<(), ExtractError> {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| ExtractError::Damaged(kind, e.to_string()))?;
    if archive.len() > MAX_ENTRIES {
        return Err(ExtractError::TooLarge(kind));
    }
    let mut archive = archive;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| ExtractError::Damaged(kind, e.to_string()))?;
        let (size, packed) = (entry.size(), entry.compressed_size().max(1));
        total = total.saturating_add(size);
        if total > MAX_INFLATED_BYTES || (size > 1024 * 1024 && size / packed > MAX_RATIO) {
            return Err(ExtractError::TooLarge(kind));
        }
    }
    Ok(())
}

/// [`extract`] on the blocking pool: a panic in a parser is an error, and a document that
/// takes longer than [`EXTRACT_TIMEOUT`] is refused (its thread finishes on its own).
pub async fn extract_off_thread(
    bytes: bytes::Bytes,
    extension: String,
    mime: String,
) -> Result<String, ExtractError> {
    let work = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(|| extract(&bytes, &extension, &mime))
    });
    match tokio::time::timeout(EXTRACT_TIMEOUT, work).await {
        Err(_) => Err(ExtractError::TimedOut),
        Ok(Ok(Ok(result))) => result,
        Ok(_) => Err(ExtractError::Damaged(
            "document",
            "the parser failed on it".into(),
        )),
    }
}

/// Extensions whose text can be extracted.
pub const SUPPORTED: &[&str] = &[
    "txt",
    "text",
    "md",
    "markdown",
    "mdx",
    "csv",
    "json",
    "html",
    "htm",
    "xml",
    "yaml",
    "yml",
    "vtt",
    "properties",
    "log",
    "pdf",
    "docx",
];

/// The text of a document of this extension (without dot) or MIME type.
pub fn extract(bytes: &[u8], extension: &str, mime: &str) -> Result<String, ExtractError> {
    let ext = extension.trim_start_matches('.').to_ascii_lowercase();
    let kind = if !ext.is_empty() {
        ext.as_str()
    } else if mime.contains("pdf") {
        "pdf"
    } else if mime.contains("html") {
        "html"
    } else if mime.contains("wordprocessingml") {
        "docx"
    } else if mime.starts_with("text/") || mime.contains("json") {
        "txt"
    } else {
        return Err(ExtractError::Unsupported(mime.to_owned()));
    };
    match kind {
        "txt" | "text" | "md" | "markdown" | "mdx" | "csv" | "yaml" | "yml" | "vtt"
        | "properties" | "log" | "xml" => Ok(String::from_utf8_lossy(bytes).into_owned()),
        "json" => Ok(match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }),
        "html" | "htm" => Ok(html_text(&String::from_utf8_lossy(bytes))),
        "pdf" => pdf_extract::extract_text_from_mem(bytes)
            .map_err(|e| ExtractError::Damaged("pdf", e.to_string())),
        "docx" => docx_text(bytes),
        other => Err(ExtractError::Unsupported(other.to_owned())),
    }
}

/// The visible text of HTML: tags removed (scripts and styles with their content),
/// block ends as new lines, common entities decoded.
pub fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let after = &rest[lt..];
        let Some(gt) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = after[1..gt].trim().to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        rest = &after[gt + 1..];
        if !tag.starts_with('/') && (name == "script" || name == "style") {
            let close = format!("</{name}");
            rest = match rest.to_ascii_lowercase().find(&close) {
                Some(i) => rest[i..].find('>').map_or("", |j| &rest[i + j + 1..]),
                None => "",
            };
            continue;
        }
        if matches!(
            name.as_str(),
            "br" | "p"
                | "div"
                | "li"
                | "tr"
                | "h1"
                | "h2"
                | "h3"
                | "h4"
                | "h5"
                | "h6"
                | "section"
                | "article"
        ) {
            out.push('\n');
        }
    }
    out.push_str(rest);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let lines: Vec<&str> = decoded
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

/// One entry of a checked ZIP container, inflated up to [`MAX_INFLATED_BYTES`] whatever
/// its header claims.
fn zip_entry(bytes: &[u8], name: &str, kind: &'static str) -> Result<String, ExtractError> {
    check_archive(bytes, kind)?;
    let damaged = |e: String| ExtractError::Damaged(kind, e);
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| damaged(e.to_string()))?;
    let entry = archive.by_name(name).map_err(|e| damaged(e.to_string()))?;
    let mut raw = Vec::new();
    entry
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| damaged(e.to_string()))?;
    if raw.len() as u64 > MAX_INFLATED_BYTES {
        return Err(ExtractError::TooLarge(kind));
    }
    String::from_utf8(raw).map_err(|e| damaged(e.to_string()))
}

fn docx_text(bytes: &[u8]) -> Result<String, ExtractError> {
    let damaged = |e: String| ExtractError::Damaged("docx", e);
    let xml = zip_entry(bytes, "word/document.xml", "docx")?;
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut out = String::new();
    let mut in_text = false;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e)) if e.name().as_ref() == b"w:t" => in_text = true,
            Ok(quick_xml::events::Event::End(e)) => match e.name().as_ref() {
                b"w:t" => in_text = false,
                b"w:p" => out.push('\n'),
                _ => {}
            },
            Ok(quick_xml::events::Event::Empty(e)) if matches!(e.name().as_ref(), b"w:tab") => {
                out.push('\t')
            }
            Ok(quick_xml::events::Event::Empty(e)) if matches!(e.name().as_ref(), b"w:br") => {
                out.push('\n')
            }
            Ok(quick_xml::events::Event::Text(t)) if in_text => {
                out.push_str(&t.unescape().map_err(|e| damaged(e.to_string()))?);
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Err(e) => return Err(damaged(e.to_string())),
            _ => {}
        }
    }
    Ok(out.trim_end().to_owned())
}

/// A minimal DOCX with these paragraphs (tests and examples).
pub fn docx_fixture(paragraphs: &[&str]) -> Vec<u8> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default();
        let body: String = paragraphs
            .iter()
            .map(|p| {
                format!(
                    "<w:p><w:r><w:t>{}</w:t></w:r></w:p>",
                    p.replace('&', "&amp;").replace('<', "&lt;")
                )
            })
            .collect();
        let _ = zip.start_file("word/document.xml", opts);
        let _ = write!(zip, "<?xml version=\"1.0\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{body}</w:body></w:document>");
        let _ = zip.finish();
    }
    buf.into_inner()
}

/// A minimal one-page PDF showing these lines in Helvetica (tests and examples).
pub fn pdf_fixture(lines: &[&str]) -> Vec<u8> {
    let escape = |t: &str| {
        t.replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)")
    };
    let mut content = String::from("BT /F1 12 Tf 72 720 Td 14 TL\n");
    for line in lines {
        content.push_str(&format!("({}) Tj T*\n", escape(line)));
    }
    content.push_str("ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf() {
        let text = extract(
            &pdf_fixture(&["Rivers of the north", "Mountains and lakes"]),
            "pdf",
            "",
        )
        .unwrap();
        assert!(text.contains("Rivers of the north"), "{text:?}");
        assert!(text.contains("Mountains and lakes"), "{text:?}");
    }

    #[test]
    fn text_kinds() {
        assert_eq!(
            extract(b"# Title\nbody", "md", "").unwrap(),
            "# Title\nbody"
        );
        assert_eq!(
            extract(b"{\"a\":1}", "json", "").unwrap(),
            "{\n  \"a\": 1\n}"
        );
        assert_eq!(
            extract(b"<html><style>x{}</style><body><p>Hello &amp; bye</p><script>evil()</script><div>Two</div></body></html>", "html", "").unwrap(),
            "Hello & bye\nTwo"
        );
        assert!(matches!(
            extract(b"x", "exe", ""),
            Err(ExtractError::Unsupported(_))
        ));
    }

    #[test]
    fn docx() {
        let bytes = docx_fixture(&["First paragraph", "Second & last"]);
        assert_eq!(
            extract(&bytes, "docx", "").unwrap(),
            "First paragraph\nSecond & last"
        );
        assert!(extract(b"not a zip", "docx", "").is_err());
    }

    #[test]
    fn damaged_pdf_is_an_error() {
        assert!(matches!(
            extract(b"%PDF-1.4 garbage", "pdf", ""),
            Err(ExtractError::Damaged(..))
        ));
    }

    /// A ZIP of about 1 KB: one entry of 1 MiB of zeros whose headers claim `declared`
    /// bytes (a bomb's central directory).
    pub(crate) fn bomb(declared: u32, name: &str) -> Vec<u8> {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(name, opts).unwrap();
        zip.write_all(&vec![0u8; 1024 * 1024]).unwrap();
        zip.finish().unwrap();
        let mut bytes = buf.into_inner();
        // Uncompressed size: offset 22 of the local header, 24 of the central one.
        let patch = |bytes: &mut Vec<u8>, sig: &[u8; 4], offset: usize| {
            let at = bytes.windows(4).position(|w| w == sig).unwrap() + offset;
            bytes[at..at + 4].copy_from_slice(&declared.to_le_bytes());
        };
        patch(&mut bytes, b"PK\x03\x04", 22);
        patch(&mut bytes, b"PK\x01\x02", 24);
        bytes
    }

    #[test]
    fn decompression_bombs_are_refused_before_inflating() {
        let bytes = bomb(1 << 30, "word/document.xml");
        assert!(bytes.len() < 4096, "{}", bytes.len());
        assert_eq!(
            extract(&bytes, "docx", ""),
            Err(ExtractError::TooLarge("docx"))
        );
        assert_eq!(
            check_archive(&bytes, "zip"),
            Err(ExtractError::TooLarge("zip"))
        );
        assert!(check_archive(&docx_fixture(&["fine"]), "docx").is_ok());
    }

    #[tokio::test]
    async fn extraction_off_thread_survives_parser_panics() {
        let text = extract_off_thread(bytes::Bytes::from_static(b"plain"), "txt".into(), "".into())
            .await
            .unwrap();
        assert_eq!(text, "plain");
        // Damaged PDFs are errors, whatever the parser does with them.
        let mut pdf = pdf_fixture(&["x"]);
        pdf.truncate(pdf.len() / 2);
        assert!(extract_off_thread(pdf.into(), "pdf".into(), "".into())
            .await
            .is_err());
    }
}
