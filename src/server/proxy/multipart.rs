//! Reading a `multipart/form-data` body that is passed on as it came (an image edit): its text fields, and
//! how many files it holds under each name. Nothing is copied but the text fields; a body that does not
//! read as a form is refused, and so is a text field given twice (an upstream might read the other value
//! than the one admission priced).

use std::collections::HashMap;

/// The longest text field kept (a prompt is at most 32,000 characters at OpenAI).
const MAX_FIELD_BYTES: usize = 256 * 1024;

/// A form's text fields and its file counts by name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Form {
    pub fields: HashMap<String, String>,
    pub files: HashMap<String, usize>,
}

impl Form {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// Files sent under `name`, `name[]` or `name[N]` (OpenAI's SDKs send several images as `image[]`).
    pub fn file_count(&self, name: &str) -> usize {
        self.files
            .iter()
            .filter(|(n, _)| n.as_str() == name || n.strip_prefix(name).is_some_and(|rest| rest.starts_with('[')))
            .map(|(_, count)| count)
            .sum()
    }
}

/// The boundary of a `multipart/form-data` content type; `None` for any other type.
pub fn boundary(content_type: &str) -> Option<&str> {
    let mut parts = content_type.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

/// Reads a form. Errors say what is wrong, for the caller.
pub fn read(content_type: &str, body: &[u8]) -> Result<Form, String> {
    let boundary = boundary(content_type)
        .ok_or("Send the request as multipart/form-data (with its boundary), as OpenAI's SDKs do.")?;
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut form = Form::default();
    let mut rest = match find(body, delimiter) {
        Some(at) => &body[at + delimiter.len()..],
        None => return Err("The form has no parts.".into()),
    };
    loop {
        // After a delimiter: `--` ends the form, CRLF starts a part.
        if rest.starts_with(b"--") {
            return Ok(form);
        }
        // Transport padding (spaces or tabs) may follow a boundary before its line end.
        let padding = rest.iter().take_while(|b| **b == b' ' || **b == b'\t').count();
        rest = rest[padding..]
            .strip_prefix(b"\r\n")
            .ok_or("The form is malformed (a boundary is not followed by a line end).")?;
        let head_end = find(rest, b"\r\n\r\n").ok_or("The form is malformed (a part has no header end).")?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| "A part's headers are not text.")?;
        let content = &rest[head_end + 4..];
        let mut closing = b"\r\n".to_vec();
        closing.extend_from_slice(delimiter);
        let end = find(content, &closing).ok_or("The form is malformed (it does not end with its boundary).")?;
        let value = &content[..end];
        rest = &content[end + closing.len()..];
        let (name, is_file) = disposition(head).ok_or("A part has no Content-Disposition name.")?;
        if is_file {
            *form.files.entry(name).or_default() += 1;
        } else {
            if value.len() > MAX_FIELD_BYTES {
                return Err(format!("The field `{name}` is too long."));
            }
            let text = String::from_utf8(value.to_vec()).map_err(|_| format!("The field `{name}` is not text."))?;
            if form.fields.contains_key(&name) {
                return Err(format!("The field `{name}` is given twice; send it once."));
            }
            form.fields.insert(name, text);
        }
    }
}

/// A part's field name, and whether it is a file (it has a `filename`).
fn disposition(head: &str) -> Option<(String, bool)> {
    let line = head
        .split("\r\n")
        .find(|l| l.split_once(':').is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition")))?;
    let (_, value) = line.split_once(':')?;
    let mut name = None;
    let mut is_file = false;
    for param in value.split(';').map(str::trim) {
        match param.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("name") => {
                name = Some(v.trim().trim_matches('"').to_string())
            }
            Some((k, _)) if k.trim().eq_ignore_ascii_case("filename") || k.trim().eq_ignore_ascii_case("filename*") => {
                is_file = true
            }
            _ => {}
        }
    }
    name.filter(|n| !n.is_empty()).map(|n| (n, is_file))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, file, value) in parts {
            b.extend_from_slice(b"--XyZ\r\n");
            match file {
                Some(f) => b.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: image/png\r\n\r\n").as_bytes(),
                ),
                None => b.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
            }
            b.extend_from_slice(value);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"--XyZ--\r\n");
        b
    }

    #[test]
    fn text_fields_are_read_and_files_counted() {
        let png: &[u8] = b"\x89PNG\r\n\x1a\n\r\n--Xy not the boundary\x00\xff";
        let b = body(&[
            ("model", None, b"gpt-image-1"),
            ("prompt", None, "a cat, 猫".as_bytes()),
            ("image[]", Some("a.png"), png),
            ("image[]", Some("b.png"), png),
            ("mask", Some("m.png"), png),
            ("n", None, b"2"),
        ]);
        let form = read("multipart/form-data; boundary=XyZ", &b).unwrap();
        assert_eq!(form.field("model"), Some("gpt-image-1"));
        assert_eq!(form.field("prompt"), Some("a cat, 猫"));
        assert_eq!(form.field("n"), Some("2"));
        assert_eq!((form.file_count("image"), form.file_count("mask")), (2, 1));
        let padded =
            b"--XyZ  \r\nContent-Disposition: form-data; name=\"image[0]\"; filename=\"a.png\"\r\n\r\nx\r\n--XyZ--";
        assert_eq!(read("multipart/form-data; boundary=XyZ", padded).unwrap().file_count("image"), 1);
        assert_eq!(boundary("Multipart/Form-Data; boundary=\"a b\""), Some("a b"));
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        assert!(read("application/json", b"{}").unwrap_err().contains("multipart/form-data"));
        assert!(read("multipart/form-data", b"").is_err(), "no boundary");
        assert!(read("multipart/form-data; boundary=XyZ", b"nothing here").is_err());
        assert!(read(
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end"
        )
        .is_err());
        let no_name = b"--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--";
        assert!(read("multipart/form-data; boundary=XyZ", no_name).is_err());
        assert_eq!(read("multipart/form-data; boundary=XyZ", b"--XyZ--").unwrap(), Form::default());
        let twice = body(&[("n", None, b"10"), ("n", None, b"1")]);
        assert!(read("multipart/form-data; boundary=XyZ", &twice).unwrap_err().contains("`n` is given twice"));
    }
}
