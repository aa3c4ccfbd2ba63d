//! The TOML examples of docs/rulebook.md are complete and copy-pasteable: the
//! first is a whole rulebook that loads; every `[[rules]]` example loads when
//! appended to it; every other example is valid TOML.

/// The ```toml blocks of a Markdown file, in order.
fn toml_blocks(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + "```toml\n".len()..];
        let end = body.find("```\n").expect("an unclosed ```toml block");
        out.push(body[..end].to_string());
        rest = &body[end..];
    }
    out
}

#[test]
fn rulebook_doc_examples_load() {
    let blocks = toml_blocks("docs/rulebook.md");
    assert!(blocks.len() >= 10, "{} blocks", blocks.len());
    let base = &blocks[0];
    assert!(base.contains("[rulebook]"), "the first example is a whole rulebook");
    if let Err(e) = hutong::engine::kinds::parse("docs/rulebook.md", base) {
        panic!("the complete example does not load:\n{e}");
    }
    let mut kinds = std::collections::BTreeSet::new();
    for block in &blocks[1..] {
        if block.trim_start().starts_with("[[rules]]") {
            let text = format!("{base}\n{block}");
            match hutong::engine::kinds::parse("docs/rulebook.md", &text) {
                Ok(rb) => {
                    kinds.insert(hutong::rulebook::SpecInfo::kind(&rb.rules.last().unwrap().spec));
                }
                Err(e) => panic!("this example does not load appended to the first:\n{block}\n{e}"),
            }
        } else if let Err(e) = block.parse::<toml::Table>() {
            panic!("this example is not valid TOML:\n{block}\n{e}");
        }
    }
    // Every registered kind has an example.
    for (kind, _, _) in hutong::engine::kinds::KINDS {
        assert!(kinds.contains(kind), "docs/rulebook.md has no example of {kind}");
    }
}
