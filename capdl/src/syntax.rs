//! The spec text: a recursive-descent parser over the tokens of `lex`
//! producing an [`Ast`] whose every item carries its [`Pos`]. Only the
//! shape of the text is checked here (plus number syntax); meaning is
//! `validate.rs`'s job.

use crate::error::{Error, ErrorKind, Pos};
use crate::spec::{LimitField, ObjectKind, Privilege, Rights};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    pub pos: Pos,
    pub value: T,
}

fn sp<T>(pos: Pos, value: T) -> Spanned<T> {
    Spanned { pos, value }
}

/// The parsed, not yet validated, spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ast {
    pub arch: Spanned<String>,
    pub objects: Vec<ObjectDecl>,
    pub components: Vec<ComponentDecl>,
    /// Every `limits default { }` block (the validator allows one).
    pub default_limits: Vec<LimitsDecl>,
}

/// A limit as written: a number (a byte size for size fields) or `unlimited`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitValue {
    Value(u64),
    Unlimited,
}

/// A `limits { }` block (in a component, or `limits default { }`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LimitsDecl {
    /// Where `limits` is written.
    pub pos: Pos,
    /// Indexed by the field's position in [`LimitField::ALL`].
    pub fields: [Option<Spanned<LimitValue>>; LimitField::ALL.len()],
}

impl LimitsDecl {
    pub fn get(&self, f: LimitField) -> Option<&Spanned<LimitValue>> {
        self.fields[f as usize].as_ref()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectDecl {
    pub name: Spanned<String>,
    /// For a `device_frame`, the kind as written, before the validator
    /// checks `device` (its `pci` is `None` here).
    pub kind: Spanned<ObjectKind>,
    /// The parameters of a `device_frame`, each where it was written.
    pub device: Option<DeviceFrameDecl>,
}

/// `device_frame (SIZE, paddr: P [, bus: B, dev: D, func: F, bar: N])`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceFrameDecl {
    pub size: Spanned<u64>,
    pub paddr: Spanned<u64>,
    /// `[bus, dev, func, bar]` when any of them is written (bus and func
    /// default to 0; dev and bar are then required).
    pub pci: Option<[Spanned<u64>; 4]>,
}

/// `name (rights, badge: N)` or `name (badge: N)`: an object reference with
/// cap attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapRef {
    pub object: Spanned<String>,
    pub rights: Option<Spanned<Rights>>,
    pub badge: Option<Spanned<u64>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapDecl {
    pub slot: Spanned<u64>,
    pub cap: CapRef,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IrqSourceDecl {
    Ioapic {
        ioapic: Spanned<u64>,
        pin: Spanned<u64>,
        level: Spanned<u64>,
        polarity: Spanned<u64>,
    },
    Msi {
        bus: Spanned<u64>,
        dev: Spanned<u64>,
        func: Spanned<u64>,
        handle: Spanned<u64>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrqDecl {
    pub pos: Pos,
    pub source: IrqSourceDecl,
    pub vector: Spanned<u64>,
    pub notification: CapRef,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ComponentDecl {
    pub name: Spanned<String>,
    pub image: Option<Spanned<String>>,
    pub priority: Option<Spanned<u64>>,
    pub max_priority: Option<Spanned<u64>>,
    pub stack: Option<Spanned<u64>>,
    pub untyped: Option<Spanned<u64>>,
    pub cnode_bits: Option<Spanned<u64>>,
    pub fault: Option<CapRef>,
    pub pager: Option<Spanned<String>>,
    pub bound_notification: Option<Spanned<String>>,
    pub asid_pool: Option<Pos>,
    pub awaited: Option<Pos>,
    pub image_from_files: Option<Pos>,
    /// `pageout_policy = NAME`: the pager's replacement policy.
    pub pageout_policy: Option<Spanned<String>>,
    /// `trace_ring = N`: the pager's live trace, N records.
    pub trace_ring: Option<Spanned<u64>>,
    /// `large_pages = N`: the pager's 2 MiB large frames.
    pub large_pages: Option<Spanned<u64>>,
    /// `transparent_large_pages`: promote unadvised chunks too.
    pub transparent_large_pages: Option<Pos>,
    /// Inclusive `(first, last)`.
    pub io_ports: Vec<Spanned<(u64, u64)>>,
    pub irqs: Vec<IrqDecl>,
    /// `(paddr, size)`.
    pub device_memory: Vec<Spanned<(u64, u64)>>,
    pub caps: Vec<CapDecl>,
    pub limits: Option<LimitsDecl>,
    /// `names = GROUP`.
    pub names: Option<Spanned<String>>,
    /// `privileges { NAME ... }`: where `privileges` is written, and the
    /// privileges named (each at most once).
    pub privileges: Option<Spanned<Vec<Spanned<Privilege>>>>,
    /// `devices { NAME (RIGHTS) ... }`: where `devices` is written, and
    /// the device regions granted.
    pub devices: Option<Spanned<Vec<CapRef>>>,
}

impl Default for Spanned<String> {
    fn default() -> Self {
        sp(Pos::default(), String::new())
    }
}

mod lex;
use lex::{lex, Tok};

// ---------------------------------------------------------------- parser

const COMPONENT_FIELDS: &str = "image, priority, max_priority, stack, untyped, cnode_bits, fault, pager, bound_notification, asid_pool, awaited, image_from_files, pageout_policy, trace_ring, large_pages, transparent_large_pages, io_ports, irq, device_memory, caps, limits, names, privileges, devices";
const PRIVILEGE_NAMES: &str = "swapctl, observe";
const LIMIT_FIELDS: &str =
    "resident, wired, swap, map_entries, handles, page_tables, children, objects";

struct Parser {
    toks: Vec<(Pos, Tok)>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].1
    }
    fn pos(&self) -> Pos {
        self.toks[self.i].0
    }
    fn bump(&mut self) -> (Pos, Tok) {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn err_expected(&self, expected: &'static str) -> Error {
        Error::new(
            self.pos(),
            ErrorKind::Expected {
                expected,
                found: self.peek().describe(),
            },
        )
    }
    fn expect(&mut self, t: Tok, expected: &'static str) -> Result<Pos, Error> {
        if *self.peek() == t {
            Ok(self.bump().0)
        } else {
            Err(self.err_expected(expected))
        }
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }
    fn ident(&mut self, expected: &'static str) -> Result<Spanned<String>, Error> {
        match self.peek().clone() {
            Tok::Ident(s) => Ok(sp(self.bump().0, s)),
            _ => Err(self.err_expected(expected)),
        }
    }
    /// A number written without a size suffix.
    fn number(&mut self) -> Result<Spanned<u64>, Error> {
        match *self.peek() {
            Tok::Num { suffixed: true, .. } => {
                Err(Error::new(self.pos(), ErrorKind::SuffixNotAllowed))
            }
            Tok::Num { value, .. } => Ok(sp(self.bump().0, value)),
            _ => Err(self.err_expected("a number")),
        }
    }
    /// A number that may carry K/M/G.
    fn size(&mut self) -> Result<Spanned<u64>, Error> {
        match *self.peek() {
            Tok::Num { value, .. } => Ok(sp(self.bump().0, value)),
            _ => Err(self.err_expected("a size (e.g. 64K, 16M, 0x1000)")),
        }
    }

    fn spec(&mut self) -> Result<Ast, Error> {
        let kw = self.ident("`arch x86_64` at the start")?;
        if kw.value != "arch" {
            return Err(Error::new(
                kw.pos,
                ErrorKind::Expected {
                    expected: "`arch x86_64` at the start",
                    found: format!("{:?}", kw.value),
                },
            ));
        }
        let arch = self.ident("an architecture name")?;
        if arch.value != "x86_64" {
            return Err(Error::new(arch.pos, ErrorKind::UnsupportedArch(arch.value)));
        }
        let mut ast = Ast {
            arch,
            objects: Vec::new(),
            components: Vec::new(),
            default_limits: Vec::new(),
        };
        loop {
            if *self.peek() == Tok::Eof {
                return Ok(ast);
            }
            let kw = self.ident("`objects`, `component` or `limits default`")?;
            match kw.value.as_str() {
                "objects" => self.objects(&mut ast.objects)?,
                "component" => ast.components.push(self.component()?),
                "limits" => {
                    let d = self.ident("`default` after a top-level `limits`")?;
                    if d.value != "default" {
                        return Err(Error::new(
                            d.pos,
                            ErrorKind::Expected {
                                expected: "`default` after a top-level `limits` (limits of one component go in its block)",
                                found: format!("{:?}", d.value),
                            },
                        ));
                    }
                    let block = self.limits(kw.pos)?;
                    ast.default_limits.push(block);
                }
                _ => {
                    return Err(Error::new(
                        kw.pos,
                        ErrorKind::UnknownKeyword {
                            word: kw.value,
                            context: "the top level",
                            expected: "objects, component, limits",
                        },
                    ))
                }
            }
        }
    }

    /// `{ resident = 16M  children = 4  swap = unlimited ... }` after `limits`
    /// (at `pos`); each field at most once.
    fn limits(&mut self, pos: Pos) -> Result<LimitsDecl, Error> {
        self.expect(Tok::LBrace, "'{' after `limits`")?;
        let mut block = LimitsDecl {
            pos,
            ..Default::default()
        };
        while !self.eat(&Tok::RBrace) {
            let kw = self.ident("a limit (resident, handles, ...) or '}'")?;
            let Some(field) = LimitField::from_keyword(&kw.value) else {
                return Err(Error::new(
                    kw.pos,
                    ErrorKind::UnknownKeyword {
                        word: kw.value,
                        context: "limits",
                        expected: LIMIT_FIELDS,
                    },
                ));
            };
            if block.fields[field as usize].is_some() {
                return Err(Error::new(
                    kw.pos,
                    ErrorKind::DuplicateField(field.keyword()),
                ));
            }
            self.expect(Tok::Eq, "'=' after the limit's name")?;
            let value = match self.peek() {
                Tok::Ident(w) if w == "unlimited" => sp(self.bump().0, LimitValue::Unlimited),
                _ if field.is_size() => {
                    let v = self.size().map_err(|e| match e.kind {
                        ErrorKind::Expected { .. } => {
                            self.err_expected("a size (e.g. 16M) or `unlimited`")
                        }
                        _ => e,
                    })?;
                    sp(v.pos, LimitValue::Value(v.value))
                }
                _ => {
                    let v = self.number().map_err(|e| match e.kind {
                        ErrorKind::Expected { .. } => self.err_expected("a number or `unlimited`"),
                        _ => e,
                    })?;
                    sp(v.pos, LimitValue::Value(v.value))
                }
            };
            block.fields[field as usize] = Some(value);
        }
        Ok(block)
    }

    /// `{ swapctl observe ... }` after `privileges`; each privilege at most once.
    fn privileges(&mut self) -> Result<Vec<Spanned<Privilege>>, Error> {
        self.expect(Tok::LBrace, "'{' after `privileges`")?;
        let mut out: Vec<Spanned<Privilege>> = Vec::new();
        while !self.eat(&Tok::RBrace) {
            let kw = self.ident("a privilege (swapctl, observe) or '}'")?;
            let Some(p) = Privilege::from_keyword(&kw.value) else {
                return Err(Error::new(
                    kw.pos,
                    ErrorKind::UnknownKeyword {
                        word: kw.value,
                        context: "privileges",
                        expected: PRIVILEGE_NAMES,
                    },
                ));
            };
            if out.iter().any(|q| q.value == p) {
                return Err(Error::new(kw.pos, ErrorKind::DuplicateField(p.keyword())));
            }
            out.push(sp(kw.pos, p));
        }
        Ok(out)
    }

    fn objects(&mut self, out: &mut Vec<ObjectDecl>) -> Result<(), Error> {
        self.expect(Tok::LBrace, "'{' after `objects`")?;
        while !self.eat(&Tok::RBrace) {
            let name = self.ident("an object name or '}'")?;
            self.expect(Tok::Eq, "'=' after the object name")?;
            let t = self.ident("an object type (ep, notification, frame, device_frame)")?;
            let mut device = None;
            let kind = match t.value.as_str() {
                "ep" | "endpoint" => ObjectKind::Endpoint,
                "notification" => ObjectKind::Notification,
                "frame" => {
                    self.expect(Tok::LParen, "'(' and the frame size")?;
                    let size = self.size()?;
                    self.expect(Tok::RParen, "')' after the frame size")?;
                    ObjectKind::Frame { size: size.value }
                }
                "device_frame" => {
                    let d = self.device_frame(t.pos)?;
                    let kind = ObjectKind::DeviceFrame {
                        size: d.size.value,
                        paddr: d.paddr.value,
                        pci: None,
                    };
                    device = Some(d);
                    kind
                }
                _ => return Err(Error::new(t.pos, ErrorKind::UnknownObjectType(t.value))),
            };
            out.push(ObjectDecl {
                name,
                kind: sp(t.pos, kind),
                device,
            });
        }
        Ok(())
    }

    /// `(SIZE, paddr: P [, bus: B, dev: D, func: F, bar: N])` after
    /// `device_frame` (at `pos`).
    fn device_frame(&mut self, pos: Pos) -> Result<DeviceFrameDecl, Error> {
        const KEYS: [&str; 5] = ["paddr", "bus", "dev", "func", "bar"];
        self.expect(Tok::LParen, "'(' and the device region's size")?;
        let size = self.size()?;
        let mut vals: [Option<Spanned<u64>>; 5] = Default::default();
        while self.eat(&Tok::Comma) {
            let k = self.ident("a device_frame parameter (paddr, bus, dev, func, bar)")?;
            let Some(i) = KEYS.iter().position(|x| *x == k.value) else {
                return Err(Error::new(
                    k.pos,
                    ErrorKind::UnknownKeyword {
                        word: k.value,
                        context: "a device_frame",
                        expected: "paddr, bus, dev, func, bar",
                    },
                ));
            };
            if vals[i].is_some() {
                return Err(Error::new(k.pos, ErrorKind::DuplicateField(KEYS[i])));
            }
            self.expect(Tok::Colon, "':' after the parameter name")?;
            vals[i] = Some(self.number()?);
        }
        self.expect(Tok::RParen, "',' or ')' in a device_frame")?;
        let [paddr, bus, dev, func, bar] = vals;
        let paddr = paddr.ok_or(Error::new(pos, ErrorKind::MissingField("paddr")))?;
        let pci = if bus.is_some() || dev.is_some() || func.is_some() || bar.is_some() {
            let need = |v: Option<Spanned<u64>>, name| {
                v.ok_or(Error::new(pos, ErrorKind::MissingField(name)))
            };
            Some([
                bus.unwrap_or(sp(pos, 0)),
                need(dev, "dev (the PCI device of the BAR)")?,
                func.unwrap_or(sp(pos, 0)),
                need(bar, "bar (the PCI BAR's index)")?,
            ])
        } else {
            None
        };
        Ok(DeviceFrameDecl { size, paddr, pci })
    }

    /// `object`, `object (RWG)`, `object (RWG, badge: 3)`, `object (badge: 3)`.
    fn cap_ref(&mut self) -> Result<CapRef, Error> {
        let object = self.ident("an object name")?;
        let mut r = CapRef {
            object,
            rights: None,
            badge: None,
        };
        if !self.eat(&Tok::LParen) {
            return Ok(r);
        }
        loop {
            let word = self.ident("rights (e.g. RW) or `badge: N`")?;
            if word.value == "badge" {
                if r.badge.is_some() {
                    return Err(Error::new(word.pos, ErrorKind::DuplicateField("badge")));
                }
                self.expect(Tok::Colon, "':' after `badge`")?;
                r.badge = Some(self.number()?);
            } else {
                if r.rights.is_some() {
                    return Err(Error::new(word.pos, ErrorKind::DuplicateField("rights")));
                }
                let rights = Rights::parse(&word.value).ok_or_else(|| {
                    Error::new(word.pos, ErrorKind::BadRights(word.value.clone()))
                })?;
                r.rights = Some(sp(word.pos, rights));
            }
            if self.eat(&Tok::RParen) {
                return Ok(r);
            }
            self.expect(Tok::Comma, "',' or ')'")?;
        }
    }

    fn component(&mut self) -> Result<ComponentDecl, Error> {
        let name = self.ident("a component name")?;
        self.expect(Tok::LBrace, "'{' after the component name")?;
        let mut c = ComponentDecl {
            name,
            ..Default::default()
        };
        while !self.eat(&Tok::RBrace) {
            let kw = self.ident("a component field or '}'")?;
            let pos = kw.pos;
            // Fields that may appear once, set through `once`.
            fn once<T>(
                slot: &mut Option<T>,
                v: T,
                pos: Pos,
                name: &'static str,
            ) -> Result<(), Error> {
                if slot.is_some() {
                    return Err(Error::new(pos, ErrorKind::DuplicateField(name)));
                }
                *slot = Some(v);
                Ok(())
            }
            match kw.value.as_str() {
                "image" => {
                    self.expect(Tok::Eq, "'=' after `image`")?;
                    let v = match self.peek().clone() {
                        Tok::Str(s) => sp(self.bump().0, s),
                        _ => return Err(self.err_expected("a quoted image name")),
                    };
                    once(&mut c.image, v, pos, "image")?;
                }
                "priority" => {
                    self.expect(Tok::Eq, "'=' after `priority`")?;
                    let v = self.number()?;
                    once(&mut c.priority, v, pos, "priority")?;
                }
                "max_priority" => {
                    self.expect(Tok::Eq, "'=' after `max_priority`")?;
                    let v = self.number()?;
                    once(&mut c.max_priority, v, pos, "max_priority")?;
                }
                "stack" => {
                    self.expect(Tok::Eq, "'=' after `stack`")?;
                    let v = self.size()?;
                    once(&mut c.stack, v, pos, "stack")?;
                }
                "untyped" => {
                    self.expect(Tok::Eq, "'=' after `untyped`")?;
                    let v = self.size()?;
                    once(&mut c.untyped, v, pos, "untyped")?;
                }
                "cnode_bits" => {
                    self.expect(Tok::Eq, "'=' after `cnode_bits`")?;
                    let v = self.number()?;
                    once(&mut c.cnode_bits, v, pos, "cnode_bits")?;
                }
                "fault" => {
                    self.expect(Tok::Eq, "'=' after `fault`")?;
                    let v = self.cap_ref()?;
                    once(&mut c.fault, v, pos, "fault")?;
                }
                "pager" => {
                    self.expect(Tok::Eq, "'=' after `pager`")?;
                    let v = self.ident("a component name")?;
                    once(&mut c.pager, v, pos, "pager")?;
                }
                "bound_notification" => {
                    self.expect(Tok::Eq, "'=' after `bound_notification`")?;
                    let v = self.ident("a notification name")?;
                    once(&mut c.bound_notification, v, pos, "bound_notification")?;
                }
                "asid_pool" => once(&mut c.asid_pool, pos, pos, "asid_pool")?,
                "limits" => {
                    let v = self.limits(pos)?;
                    once(&mut c.limits, v, pos, "limits")?;
                }
                "names" => {
                    self.expect(Tok::Eq, "'=' after `names`")?;
                    let v = self.ident("a name group")?;
                    once(&mut c.names, v, pos, "names")?;
                }
                "privileges" => {
                    let v = sp(pos, self.privileges()?);
                    once(&mut c.privileges, v, pos, "privileges")?;
                }
                "devices" => {
                    self.expect(Tok::LBrace, "'{' after `devices`")?;
                    let mut v = Vec::new();
                    while !self.eat(&Tok::RBrace) {
                        v.push(self.cap_ref()?);
                    }
                    once(&mut c.devices, sp(pos, v), pos, "devices")?;
                }
                "awaited" => once(&mut c.awaited, pos, pos, "awaited")?,
                "image_from_files" => once(&mut c.image_from_files, pos, pos, "image_from_files")?,
                "pageout_policy" => {
                    self.expect(Tok::Eq, "'=' after `pageout_policy`")?;
                    let v = match self.peek().clone() {
                        Tok::Str(s) => sp(self.bump().0, s),
                        _ => return Err(self.err_expected("a quoted policy name")),
                    };
                    once(&mut c.pageout_policy, v, pos, "pageout_policy")?;
                }
                "trace_ring" => {
                    self.expect(Tok::Eq, "'=' after `trace_ring`")?;
                    let v = self.number()?;
                    once(&mut c.trace_ring, v, pos, "trace_ring")?;
                }
                "large_pages" => {
                    self.expect(Tok::Eq, "'=' after `large_pages`")?;
                    let v = self.number()?;
                    once(&mut c.large_pages, v, pos, "large_pages")?;
                }
                "transparent_large_pages" => once(
                    &mut c.transparent_large_pages,
                    pos,
                    pos,
                    "transparent_large_pages",
                )?,
                "io_ports" => {
                    self.expect(Tok::Eq, "'=' after `io_ports`")?;
                    loop {
                        let first = self.number()?;
                        self.expect(Tok::Minus, "'-' in a port range (first-last)")?;
                        let last = self.number()?;
                        c.io_ports.push(sp(first.pos, (first.value, last.value)));
                        if !self.eat(&Tok::Comma) {
                            break;
                        }
                    }
                }
                "device_memory" => {
                    self.expect(Tok::Eq, "'=' after `device_memory`")?;
                    loop {
                        let paddr = self.number()?;
                        self.expect(Tok::Plus, "'+' in a device region (paddr + size)")?;
                        let size = self.size()?;
                        c.device_memory
                            .push(sp(paddr.pos, (paddr.value, size.value)));
                        if !self.eat(&Tok::Comma) {
                            break;
                        }
                    }
                }
                "irq" => {
                    self.expect(Tok::Eq, "'=' after `irq`")?;
                    c.irqs.push(self.irq(pos)?);
                }
                "caps" => {
                    self.expect(Tok::LBrace, "'{' after `caps`")?;
                    while !self.eat(&Tok::RBrace) {
                        let slot = self.number().map_err(|e| match e.kind {
                            ErrorKind::Expected { .. } => self.err_expected("a slot number or '}'"),
                            _ => e,
                        })?;
                        self.expect(Tok::Colon, "':' after the slot number")?;
                        let cap = self.cap_ref()?;
                        c.caps.push(CapDecl { slot, cap });
                    }
                }
                _ => {
                    return Err(Error::new(
                        pos,
                        ErrorKind::UnknownKeyword {
                            word: kw.value,
                            context: "a component",
                            expected: COMPONENT_FIELDS,
                        },
                    ))
                }
            }
        }
        Ok(c)
    }

    /// `ioapic (pin: P, vector: V [, ioapic: N, level: 0|1, polarity: 0|1]) -> ntfn (badge: B)`
    /// or `msi (bus: B, dev: D, func: F, vector: V [, handle: H]) -> ntfn`.
    fn irq(&mut self, pos: Pos) -> Result<IrqDecl, Error> {
        let kind = self.ident("`ioapic` or `msi`")?;
        let keys: &[&'static str] = match kind.value.as_str() {
            "ioapic" => &["ioapic", "pin", "level", "polarity", "vector"],
            "msi" => &["bus", "dev", "func", "handle", "vector"],
            _ => {
                return Err(Error::new(
                    kind.pos,
                    ErrorKind::UnknownKeyword {
                        word: kind.value,
                        context: "an irq",
                        expected: "ioapic, msi",
                    },
                ))
            }
        };
        let expected_keys = if kind.value == "ioapic" {
            "ioapic, pin, level, polarity, vector"
        } else {
            "bus, dev, func, handle, vector"
        };
        let mut vals: [Option<Spanned<u64>>; 5] = Default::default();
        self.expect(Tok::LParen, "'(' after the irq kind")?;
        loop {
            let k = self.ident("an irq parameter name")?;
            let Some(i) = keys.iter().position(|x| *x == k.value) else {
                return Err(Error::new(
                    k.pos,
                    ErrorKind::UnknownKeyword {
                        word: k.value,
                        context: "an irq",
                        expected: expected_keys,
                    },
                ));
            };
            if vals[i].is_some() {
                return Err(Error::new(k.pos, ErrorKind::DuplicateField(keys[i])));
            }
            self.expect(Tok::Colon, "':' after the parameter name")?;
            vals[i] = Some(self.number()?);
            if self.eat(&Tok::RParen) {
                break;
            }
            self.expect(Tok::Comma, "',' or ')'")?;
        }
        let get = |i: usize, default: Option<u64>| -> Result<Spanned<u64>, Error> {
            match (&vals[i], default) {
                (Some(v), _) => Ok(v.clone()),
                (None, Some(d)) => Ok(sp(kind.pos, d)),
                (None, None) => Err(Error::new(kind.pos, ErrorKind::MissingField(keys[i]))),
            }
        };
        let source = if kind.value == "ioapic" {
            IrqSourceDecl::Ioapic {
                ioapic: get(0, Some(0))?,
                pin: get(1, None)?,
                level: get(2, Some(0))?,
                polarity: get(3, Some(0))?,
            }
        } else {
            IrqSourceDecl::Msi {
                bus: get(0, None)?,
                dev: get(1, None)?,
                func: get(2, None)?,
                handle: get(3, Some(0))?,
            }
        };
        let vector = get(4, None)?;
        self.expect(Tok::Arrow, "'->' and the notification the irq signals")?;
        let notification = self.cap_ref()?;
        Ok(IrqDecl {
            pos,
            source,
            vector,
            notification,
        })
    }
}

/// Parses spec text into an [`Ast`]; stops at the first syntax error.
pub fn parse(src: &str) -> Result<Ast, Error> {
    let toks = lex(src)?;
    Parser { toks, i: 0 }.spec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> Error {
        parse(src).unwrap_err()
    }

    #[test]
    fn numbers_and_sizes() {
        let ast = parse(
            "arch x86_64 component a { stack = 64K untyped = 0x10_0000 cnode_bits = 10 device_memory = 0xfeb00000 + 1M }",
        )
        .unwrap();
        let c = &ast.components[0];
        assert_eq!(c.stack.as_ref().unwrap().value, 64 * 1024);
        assert_eq!(c.untyped.as_ref().unwrap().value, 0x100000);
        assert_eq!(c.cnode_bits.as_ref().unwrap().value, 10);
        assert_eq!(c.device_memory[0].value, (0xfeb00000, 1 << 20));
    }

    #[test]
    fn names_with_dashes_and_arrows() {
        let ast = parse(
            "arch x86_64\nobjects { n = notification }\ncomponent block-server {\n irq = ioapic (pin: 11, vector: 11)->n\n io_ports = 0xcf8-0xcff }",
        )
        .unwrap();
        let c = &ast.components[0];
        assert_eq!(c.name.value, "block-server");
        assert_eq!(c.irqs[0].notification.object.value, "n");
        assert_eq!(c.io_ports[0].value, (0xcf8, 0xcff));
    }

    #[test]
    fn comments() {
        let ast =
            parse("-- capDL style\n// C style\n# shell style\narch x86_64 // trailing\n").unwrap();
        assert!(ast.components.is_empty());
    }

    #[test]
    fn positions() {
        let e = err("arch x86_64\ncomponent a {\n  colour = 3\n}");
        assert_eq!(e.pos, Pos { line: 3, col: 3 });
        assert!(matches!(e.kind, ErrorKind::UnknownKeyword { .. }));
    }

    #[test]
    fn syntax_errors() {
        assert!(matches!(
            err("arch arm").kind,
            ErrorKind::UnsupportedArch(_)
        ));
        assert!(matches!(err("objects {}").kind, ErrorKind::Expected { .. }));
        assert!(matches!(
            err("arch x86_64 objects { a = page }").kind,
            ErrorKind::UnknownObjectType(_)
        ));
        assert!(matches!(
            err("arch x86_64 component a { priority = 1K }").kind,
            ErrorKind::SuffixNotAllowed
        ));
        assert!(matches!(
            err("arch x86_64 component a { stack = 12Q }").kind,
            ErrorKind::BadNumber(_)
        ));
        assert!(matches!(
            err("arch x86_64 component a { stack = 0x }").kind,
            ErrorKind::BadNumber(_)
        ));
        assert!(matches!(
            err("arch x86_64 component a { stack = 99999999999999999999 }").kind,
            ErrorKind::BadNumber(_)
        ));
        assert!(matches!(
            err("arch x86_64 component a { stack = 0xffffffffffffffffK }").kind,
            ErrorKind::BadNumber(_)
        ));
        assert!(matches!(
            err("arch x86_64 component a { image = \"x }").kind,
            ErrorKind::UnterminatedString
        ));
        assert!(matches!(
            err("arch x86_64 component a { caps { 16: e (RR) } }").kind,
            ErrorKind::BadRights(_)
        ));
        assert!(matches!(
            err("arch x86_64 component a { caps { 16: e (RX) } }").kind,
            ErrorKind::BadRights(_)
        ));
        assert!(matches!(
            err("arch x86_64 component a { caps { 16: e (R, badge: 1, badge: 2) } }").kind,
            ErrorKind::DuplicateField("badge")
        ));
        assert!(matches!(
            err("arch x86_64 component a { priority = 1 priority = 2 }").kind,
            ErrorKind::DuplicateField("priority")
        ));
        assert!(matches!(
            err("arch x86_64 component a { irq = msi (bus: 0, dev: 3, func: 0) -> n }").kind,
            ErrorKind::MissingField("vector")
        ));
        assert!(matches!(
            err("arch x86_64 component a { irq = ioapic (pin: 1, bus: 0) -> n }").kind,
            ErrorKind::UnknownKeyword { .. }
        ));
        assert!(matches!(
            err("arch x86_64 component a { irq = gsi (pin: 1) -> n }").kind,
            ErrorKind::UnknownKeyword { .. }
        ));
        assert!(matches!(
            err("arch x86_64 component a { io_ports = 1 }").kind,
            ErrorKind::Expected { .. }
        ));
        assert!(matches!(
            err("arch x86_64 component a { caps { x: e (R) } }").kind,
            ErrorKind::Expected { .. }
        ));
        assert!(matches!(
            err("arch x86_64 component a { image = 3 }").kind,
            ErrorKind::Expected { .. }
        ));
        assert!(matches!(
            err("arch x86_64 component a ${").kind,
            ErrorKind::UnexpectedChar('$')
        ));
        assert!(matches!(
            err("arch x86_64 thing").kind,
            ErrorKind::UnknownKeyword { .. }
        ));
        assert!(matches!(
            err("arch x86_64 component a {").kind,
            ErrorKind::Expected { .. }
        ));
    }
}
