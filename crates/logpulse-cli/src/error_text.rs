//! An error's chain as one line for the terminal.
//!
//! Why not `{:#}` alone: several library errors (thiserror types that name the I/O error in
//! their message and also expose it as their source) would print their cause twice, as in
//! "reading x.gz: incomplete deflate stream: incomplete deflate stream".

/// `outer: cause: cause's cause`, skipping a cause whose text the line already ends with.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading {name}: {source}")]
    struct Reading {
        name: &'static str,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_its_parents_text_is_said_once() {
        let io = std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "incomplete deflate stream",
        );
        let e = anyhow::Error::new(Reading {
            name: "x.gz",
            source: io,
        })
        .context("run failed");
        assert_eq!(
            one_line(&e),
            "run failed: reading x.gz: incomplete deflate stream"
        );
    }

    #[test]
    fn causes_not_in_the_text_are_all_kept() {
        let e = anyhow::anyhow!("no such file")
            .context("opening a.log")
            .context("run failed");
        assert_eq!(one_line(&e), "run failed: opening a.log: no such file");
    }
}
