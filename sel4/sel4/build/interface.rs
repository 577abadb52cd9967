//! Reads the kernel's interface XML (`sel4.xml`, `sel4arch.xml`s) and
//! `syscall.xml` into plain data, evaluating `condition` attributes.
//!
//! Label numbering follows `tools/invocation_header_gen.py`: the generic
//! enum starts with `InvalidInvocation = 0` and lists every enabled method
//! id in document order; the sel4_arch file continues from there, then the
//! arch file. A method whose condition is false gets no label at all, so
//! later labels shift, exactly as the C enum does.

use crate::cpp::{eval_condition, Defines};

/// One `<param>` of a method.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub ty: String,
    pub dir_in: bool,
    /// The `description` attribute (or element), whitespace-normalised.
    pub description: String,
}

/// One enabled `<method>`.
#[derive(Clone, Debug)]
pub struct Method {
    /// The interface's C name, e.g. `seL4_X86_Page`.
    pub interface: String,
    /// The method name, e.g. `Map`.
    pub name: String,
    /// The label's C name, e.g. `X86PageMap`.
    pub id: String,
    pub label: u64,
    pub params: Vec<Param>,
    /// The `<brief>` text, whitespace-normalised.
    pub brief: String,
}

/// A `<struct>` of the XML (e.g. `seL4_UserContext`) and its word members.
#[derive(Clone, Debug)]
pub struct Struct {
    pub name: String,
    pub members: Vec<String>,
}

/// Everything the interface files define, in label order.
#[derive(Debug, Default)]
pub struct Interfaces {
    pub methods: Vec<Method>,
    pub structs: Vec<Struct>,
}

fn condition_holds(node: roxmltree::Node, defines: &Defines) -> Result<bool, String> {
    match node.attribute("condition") {
        None | Some("") => Ok(true),
        Some(c) => eval_condition(c, defines).map_err(|e| format!("condition {c:?}: {e}")),
    }
}

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of a documentation element; `<texttt text=".."/>` and
/// `<obj name=".."/>` contribute their attribute, other markup nothing.
fn text_of(node: roxmltree::Node) -> String {
    let text: String = node
        .descendants()
        .map(|d| {
            if d.is_text() {
                d.text().unwrap_or_default()
            } else {
                d.attribute("text")
                    .or(d.attribute("name"))
                    .unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join("");
    normalise(&text).trim_end_matches('.').to_string()
}

/// Parses the interface files in label order (generic, sel4_arch, arch).
pub fn parse_interfaces(
    files: &[(String, String)],
    defines: &Defines,
) -> Result<Interfaces, String> {
    let mut out = Interfaces::default();
    // InvalidInvocation is label 0.
    let mut next_label = 1u64;
    for (path, text) in files {
        let doc = roxmltree::Document::parse(text).map_err(|e| format!("{path}: {e}"))?;
        for node in doc.descendants() {
            match node.tag_name().name() {
                "struct" => out.structs.push(Struct {
                    name: node.attribute("name").unwrap_or_default().to_string(),
                    members: node
                        .children()
                        .filter(|c| c.has_tag_name("member"))
                        .map(|c| c.attribute("name").unwrap_or_default().to_string())
                        .collect(),
                }),
                "method" => {
                    if !condition_holds(node, defines).map_err(|e| format!("{path}: {e}"))? {
                        continue;
                    }
                    let interface = node
                        .ancestors()
                        .find(|a| a.has_tag_name("interface"))
                        .and_then(|i| i.attribute("name"))
                        .ok_or_else(|| format!("{path}: method outside an interface"))?;
                    let params = node
                        .children()
                        .filter(|c| c.has_tag_name("param"))
                        .map(|p| Param {
                            name: p.attribute("name").unwrap_or_default().to_string(),
                            ty: p.attribute("type").unwrap_or_default().to_string(),
                            dir_in: p.attribute("dir") == Some("in"),
                            description: p
                                .attribute("description")
                                .map(normalise)
                                .or_else(|| {
                                    p.children()
                                        .find(|c| c.has_tag_name("description"))
                                        .map(text_of)
                                })
                                .unwrap_or_default(),
                        })
                        .collect();
                    let brief = node
                        .children()
                        .find(|c| c.has_tag_name("brief"))
                        .map(text_of)
                        .unwrap_or_default();
                    out.methods.push(Method {
                        interface: interface.to_string(),
                        name: node.attribute("name").unwrap_or_default().to_string(),
                        id: node.attribute("id").unwrap_or_default().to_string(),
                        label: next_label,
                        params,
                        brief,
                    });
                    next_label += 1;
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// One system call and its number.
#[derive(Debug)]
pub struct Syscall {
    pub name: String,
    pub number: i64,
    pub enabled: bool,
}

/// Parses `syscall.xml`: the `<api>` syscalls are -1, -2, ... in order and
/// the `<debug>` ones continue the count. As in the kernel's
/// `syscall_header_gen.py`, every syscall takes a number whether or not its
/// `<config condition>` holds; the condition only says whether it exists.
pub fn parse_syscalls(text: &str, defines: &Defines) -> Result<Vec<Syscall>, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("syscall.xml: {e}"))?;
    let mut out = Vec::new();
    let mut number = -1i64;
    for section in ["api", "debug"] {
        for sec in doc.descendants().filter(|n| n.has_tag_name(section)) {
            for config in sec.children().filter(|n| n.has_tag_name("config")) {
                let enabled = condition_holds(config, defines)?;
                for sc in config.children().filter(|n| n.has_tag_name("syscall")) {
                    out.push(Syscall {
                        name: sc.attribute("name").unwrap_or_default().to_string(),
                        number,
                        enabled,
                    });
                    number -= 1;
                }
            }
        }
    }
    Ok(out)
}
