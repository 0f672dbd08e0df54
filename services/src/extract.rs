//! Text extraction from documents: plain text and markup as text, HTML without its tags,
//! PDF through `pdf-extract`, DOCX by reading its `word/document.xml`.

use std::io::Read;

/// Why a document could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExtractError {
    /// The type is not supported.
    #[error("unsupported file type: {0}")]
    Unsupported(String),
    /// The document is damaged.
    #[error("cannot read the {0} document: {1}")]
    Damaged(&'static str, String),
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

fn docx_text(bytes: &[u8]) -> Result<String, ExtractError> {
    let damaged = |e: String| ExtractError::Damaged("docx", e);
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| damaged(e.to_string()))?;
    let mut xml = String::new();
    archive
        .by_name("word/document.xml")
        .map_err(|e| damaged(e.to_string()))?
        .read_to_string(&mut xml)
        .map_err(|e| damaged(e.to_string()))?;
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
}
