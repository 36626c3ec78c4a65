//! Fenced code blocks of a markdown file.

/// One fenced block.
#[derive(Debug, Clone)]
pub struct Block {
    /// The info string's words (`console`, `background`, …).
    pub info: Vec<String>,
    /// The lines inside the fences.
    pub lines: Vec<String>,
    /// 1-based line of the opening fence, for messages.
    pub line: usize,
}

/// Every fenced block of `text`, in order.
pub fn blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some(Block {
                        info: info.split_whitespace().map(str::to_owned).collect(),
                        lines: Vec::new(),
                        line: n + 1,
                    });
                }
            }
            Some(block) => {
                if trimmed == "```" {
                    blocks.push(open.take().unwrap());
                } else {
                    block.lines.push(line.to_owned());
                }
            }
        }
    }
    assert!(open.is_none(), "an unclosed code fence");
    blocks
}

/// The text of the section under `heading` (a line `## heading`), up to the
/// next heading of the same or a higher level.
pub fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("no section ## {heading}"))
        + 1;
    let rest = &text[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 4);
    &rest[..end]
}

/// A console command: `$ ` lines, joined with their `> ` continuations.
#[derive(Debug, Clone)]
pub struct Step {
    /// The shell command.
    pub command: String,
    /// Expected output lines.
    pub expected: Vec<String>,
}

/// The steps of a ```console block. Lines before the first `$ ` (a
/// `continued` block) form a step with an empty command.
pub fn steps(block: &Block) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut continuing = false;
    for line in &block.lines {
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                command: command.to_owned(),
                expected: Vec::new(),
            });
            continuing = command.ends_with('\\');
        } else if continuing && let Some(more) = line.strip_prefix("> ") {
            let step = steps.last_mut().unwrap();
            step.command.push('\n');
            step.command.push_str(more);
            continuing = more.ends_with('\\');
        } else {
            continuing = false;
            if steps.is_empty() {
                steps.push(Step {
                    command: String::new(),
                    expected: Vec::new(),
                });
            }
            steps.last_mut().unwrap().expected.push(line.clone());
        }
    }
    steps
}
