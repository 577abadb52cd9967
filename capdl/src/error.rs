//! Errors of the spec text: where (line and column) and what (one enum
//! variant per kind of mistake), with messages meant for the person editing
//! the spec.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A position in the spec text; both 1-based, columns count characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One mistake in the spec, at `pos`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub pos: Pos,
    pub kind: ErrorKind,
}

impl Error {
    pub fn new(pos: Pos, kind: ErrorKind) -> Self {
        Error { pos, kind }
    }
}

impl fmt::Display for Error {
    /// `line:col: message`; the caller prefixes the file name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.kind)
    }
}

impl core::error::Error for Error {}

/// Every mistake found, in text order (validation does not stop at the first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Errors(pub Vec<Error>);

impl fmt::Display for Errors {
    /// One error per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl core::error::Error for Errors {}

/// What is wrong. Syntax errors stop the parser; the others are all
/// collected by the validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    // --- lexical and syntax ---
    /// A character that starts no token.
    UnexpectedChar(char),
    /// A `"` with no closing `"` on the same line.
    UnterminatedString,
    /// A malformed or too large number literal (as written).
    BadNumber(String),
    /// `K`/`M`/`G` on a number that is not a size.
    SuffixNotAllowed,
    /// The parser wanted one thing and found another.
    Expected {
        expected: &'static str,
        found: String,
    },
    /// A word that is not a keyword where a keyword is needed.
    UnknownKeyword {
        word: String,
        context: &'static str,
        expected: &'static str,
    },
    /// `name = <type>` with a type that does not exist.
    UnknownObjectType(String),
    /// A rights word with letters other than R, W, G, P or a repeated one.
    BadRights(String),
    /// A field given twice where it may appear once.
    DuplicateField(&'static str),
    /// A required field is missing (e.g. `pin` of an IOAPIC irq).
    MissingField(&'static str),
    /// Rights written where the root task fixes them (fault and IRQ caps).
    RightsNotAllowed(&'static str),
    /// A badge on a cap to an object that has none (frames).
    BadgeNotAllowed { object: String },
    /// Frame caps with rights other than R and W.
    FrameRights {
        object: String,
        rights: crate::spec::Rights,
    },
    /// `arch` names an architecture other than x86_64.
    UnsupportedArch(String),

    // --- names and references ---
    /// A name declared twice (objects and components share one namespace).
    DuplicateName { name: String, first: Pos },
    /// An object name that no `objects` entry declares.
    UndefinedObject(String),
    /// A component name that no `component` declares.
    UndefinedComponent(String),
    /// An object of the wrong type for its use.
    WrongObjectType {
        name: String,
        expected: &'static str,
        found: &'static str,
    },

    // --- component fields ---
    /// A component with no `image = "..."`.
    MissingImage(String),
    /// An image that is not among the known program images.
    UnknownImage { image: String, known: Vec<String> },
    /// `priority` or `max_priority` outside 0..=255.
    PriorityOutOfRange { field: &'static str, value: u64 },
    /// A size that is zero, not a multiple of 4K, or too large.
    BadSize {
        field: &'static str,
        value: u64,
        reason: &'static str,
    },
    /// A number outside its allowed range.
    ValueOutOfRange {
        field: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
    /// A badge outside 0..=2^28-1.
    BadgeOutOfRange(u64),

    // --- caps and slots ---
    /// A caps-table slot the root task reserves (0 is the null slot, 1..=15
    /// hold the component's own caps).
    ReservedSlot(u64),
    /// A caps-table slot past the caps-table range.
    SlotOutOfRange { slot: u64, max: u64 },
    /// Two caps in one slot.
    DuplicateSlot { slot: u64, first: Pos },
    /// The component's CNode is too small for its caps and grants.
    CSpaceFull {
        component: String,
        needed: u64,
        available: u64,
    },
    /// Two components hold the same non-zero badge of one object (or the same
    /// fault endpoint badge, 0 included), so the receiver cannot tell them apart.
    SharedBadge {
        object: String,
        badge: u64,
        other: String,
    },

    // --- faults and pagers ---
    /// No component (other than the faulting one) can receive on the fault
    /// endpoint: no one holds a cap to it with the R right.
    FaultNotReceived { object: String },
    /// `pager = X` but X holds no R cap to the component's fault endpoint.
    PagerNotReceiving { pager: String, object: String },
    /// `pager = X` on a component with no `fault`.
    PagerWithoutFault,
    /// A component named as its own pager.
    PagerIsSelf,
    /// `limits`, `names` or `privileges` on a component without a pager:
    /// quotas, name groups and privileges are kept by a pager, for its
    /// clients.
    NotPaged { field: &'static str },
    /// A pager's field on a component that pages nobody.
    NotAPager { field: &'static str },
    /// A field that only means something beside another one.
    NeedsField {
        field: &'static str,
        needs: &'static str,
    },

    // --- devices ---
    /// `first-last` I/O ports with first > last.
    BadIoPortRange { first: u64, last: u64 },
    /// Two I/O port ranges overlap (in one or two components).
    IoPortOverlap {
        first: u64,
        last: u64,
        other: String,
        other_pos: Pos,
    },
    /// Two device memory regions overlap (`device_memory` fields of
    /// components, `device_frame` objects: `other` names the other's
    /// component or object).
    DeviceMemoryOverlap {
        paddr: u64,
        size: u64,
        other: String,
        other_pos: Pos,
    },
    /// Two `device_frame` objects place the same PCI BAR.
    PciBarConflict { other: String, other_pos: Pos },
    /// A `devices { }` grant with rights other than R or RW.
    DeviceRights {
        object: String,
        rights: crate::spec::Rights,
    },
    /// A `device_frame` granted twice in one `devices { }` block.
    DuplicateDevice(String),
    /// A `device_frame` granted to clients of two pagers (one pager holds
    /// a region's frames).
    DeviceOwners {
        object: String,
        pager: String,
        other: String,
    },
    /// Two IRQs use the same vector, IOAPIC pin or MSI source.
    IrqConflict {
        what: &'static str,
        other: String,
        other_pos: Pos,
    },
    /// A notification bound to two components' TCBs (seL4 allows one).
    AlreadyBound { object: String, other: String },
    /// An IRQ's notification that no component holds with the R right.
    IrqNotReceived { object: String },
    /// The spec declares no component.
    NoComponents,
    /// More objects or components than the compact form can carry.
    TooMany { what: &'static str, max: u64 },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match self {
            UnexpectedChar(c) => write!(f, "unexpected character {c:?}"),
            UnterminatedString => write!(f, "string has no closing '\"' on this line"),
            BadNumber(s) => write!(f, "bad number {s:?} (decimal, 0x hex, optional K/M/G on sizes)"),
            SuffixNotAllowed => write!(f, "K/M/G suffix is allowed on sizes only"),
            Expected { expected, found } => write!(f, "expected {expected}, found {found}"),
            UnknownKeyword {
                word,
                context,
                expected,
            } => {
                write!(f, "unknown keyword {word:?} in {context}")?;
                match suggest(word, expected.split(", ")) {
                    Some(s) => write!(f, "; did you mean `{s}`?"),
                    None => write!(f, " (expected one of: {expected})"),
                }
            }
            UnknownObjectType(t) => write!(f, "unknown object type {t:?} (expected ep, notification, frame or device_frame)"),
            BadRights(r) => write!(f, "bad rights {r:?} (letters R, W, G, P, each at most once)"),
            DuplicateField(n) => write!(f, "{n} is given twice"),
            MissingField(n) => write!(f, "missing {n}"),
            RightsNotAllowed(why) => write!(f, "rights cannot be given here: {why}"),
            BadgeNotAllowed { object } => write!(f, "{object:?} is a frame; frame caps have no badge"),
            FrameRights { object, rights } => {
                write!(f, "{object:?} is a frame; frame caps take R and W only, not {rights}")
            }
            UnsupportedArch(a) => write!(f, "unsupported arch {a:?} (only x86_64)"),
            DuplicateName { name, first } => {
                write!(f, "name {name:?} is already declared at {first}")
            }
            UndefinedObject(n) => write!(f, "undefined object {n:?} (declare it in `objects {{ }}`)"),
            UndefinedComponent(n) => write!(f, "undefined component {n:?}"),
            WrongObjectType {
                name,
                expected,
                found,
            } => write!(f, "{name:?} is a {found}, expected a {expected}"),
            MissingImage(c) => write!(f, "component {c:?} has no image = \"...\""),
            UnknownImage { image, known } => {
                if let Some(s) = suggest(image, known.iter().map(String::as_str)) {
                    return write!(f, "unknown image {image:?}; did you mean \"{s}\"?");
                }
                write!(f, "unknown image {image:?} (known images: ")?;
                for (i, k) in known.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k}")?;
                }
                write!(f, ")")
            }
            PriorityOutOfRange { field, value } => {
                write!(f, "{field} {value} is out of range 0..=255")
            }
            BadSize {
                field,
                value,
                reason,
            } => write!(f, "bad {field} {value:#x}: {reason}"),
            ValueOutOfRange {
                field,
                value,
                min,
                max,
            } => write!(f, "{field} {value} is out of range {min}..={max}"),
            BadgeOutOfRange(b) => write!(
                f,
                "badge {b:#x} is out of range 0..={:#x} (28 bits; 0 = unbadged)",
                crate::spec::MAX_BADGE
            ),
            ReservedSlot(s) => write!(
                f,
                "slot {s} is reserved (0 is the null slot, 1..=15 hold the component's own caps)"
            ),
            SlotOutOfRange { slot, max } => write!(
                f,
                "slot {slot} is past the caps table (slots 16..={max}; higher slots hold grants)"
            ),
            DuplicateSlot { slot, first } => write!(f, "slot {slot} is already used at {first}"),
            CSpaceFull {
                component,
                needed,
                available,
            } => write!(
                f,
                "component {component:?} needs {needed} slots but its CNode has {available} (raise cnode_bits)"
            ),
            SharedBadge {
                object,
                badge,
                other,
            } => write!(
                f,
                "badge {badge} of {object:?} is also held by component {other:?}; the receiver cannot tell them apart"
            ),
            FaultNotReceived { object } => write!(
                f,
                "fault endpoint {object:?} is received by no other component (none holds it with R)"
            ),
            PagerNotReceiving { pager, object } => write!(
                f,
                "pager {pager:?} does not receive on fault endpoint {object:?} (give it a cap with R)"
            ),
            PagerWithoutFault => write!(f, "a component with a pager needs `fault = <ep> (badge: N)`"),
            PagerIsSelf => write!(f, "a component cannot be its own pager"),
            NotPaged { field } => write!(
                f,
                "`{field}` applies only to paged clients, and this component has no `pager`"
            ),
            NotAPager { field } => write!(
                f,
                "`{field}` applies only to a pager, and no component names this one as its `pager`"
            ),
            NeedsField { field, needs } => {
                write!(f, "`{field}` needs `{needs}` on the same component")
            }
            BadIoPortRange { first, last } => {
                write!(f, "bad I/O port range {first:#x}-{last:#x} (need first <= last <= 0xffff)")
            }
            IoPortOverlap {
                first,
                last,
                other,
                other_pos,
            } => write!(
                f,
                "I/O ports {first:#x}-{last:#x} overlap a range of component {other:?} at {other_pos}"
            ),
            DeviceMemoryOverlap {
                paddr,
                size,
                other,
                other_pos,
            } => write!(
                f,
                "device memory {paddr:#x} + {size:#x} overlaps the device memory of {other:?} at {other_pos}"
            ),
            PciBarConflict { other, other_pos } => write!(
                f,
                "this PCI BAR is already placed by device_frame {other:?} at {other_pos}"
            ),
            DeviceRights { object, rights } => write!(
                f,
                "{object:?} is a device_frame; a device grant takes R or RW, not {rights}"
            ),
            DuplicateDevice(object) => {
                write!(f, "device {object:?} is granted twice in this block")
            }
            DeviceOwners {
                object,
                pager,
                other,
            } => write!(
                f,
                "device {object:?} is granted to clients of pager {pager:?} and of pager {other:?}; one pager holds a region"
            ),
            IrqConflict {
                what,
                other,
                other_pos,
            } => write!(f, "{what} is already used by component {other:?} at {other_pos}"),
            AlreadyBound { object, other } => write!(
                f,
                "notification {object:?} is already bound to component {other:?} (a notification binds to one TCB)"
            ),
            IrqNotReceived { object } => write!(
                f,
                "IRQ notification {object:?} is held with R by no component; nobody would see the IRQ"
            ),
            NoComponents => write!(f, "the spec declares no component"),
            TooMany { what, max } => write!(f, "too many {what} (at most {max})"),
        }
    }
}

/// The candidate closest to `word` if it is a plausible typo (edit distance
/// at most 2, and less than half the word).
fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, _)| d > 0 && d <= 2 && d * 2 < word.chars().count().max(2))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = alloc::vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("stak", "stack"), 1);
        assert_eq!(
            suggest("stak", ["image", "stack"].into_iter()),
            Some("stack")
        );
        assert_eq!(suggest("colour", ["image", "stack"].into_iter()), None);
        assert_eq!(suggest("ab", ["cd"].into_iter()), None);
    }
}
