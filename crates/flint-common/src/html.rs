/// Escapes text for HTML pages of the web UIs (names, ids and URLs come from users).
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Spark's "(kill)" link as a small POST form to `action` (a URL relative to the page), which
/// asks the user to confirm `question` first. A POST, so viewing a page never kills anything
/// and ACLs can tell kills (modify rights) from views.
pub fn kill_form(action: &str, question: &str) -> String {
    format!(
        " <form action=\"{}\" method=\"post\" style=\"display:inline\">\
         <button class=\"kill-link\" onclick=\"return window.confirm('{}')\">(kill)</button></form>",
        escape_html(action),
        escape_html(&question.replace('\'', ""))
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape_html(r#"<a href="x">&</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn kill_forms_post_and_escape() {
        let form = super::kill_form("app/kill/?id=a&b", "Kill <it>'s app?");
        assert!(form.contains("action=\"app/kill/?id=a&amp;b\" method=\"post\""));
        assert!(form.contains("confirm('Kill &lt;it&gt;s app?')"), "{form}");
    }
}
