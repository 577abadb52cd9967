//! What a pager keeps per client: quotas, name groups and privileges —
//! the values of `limits { }` blocks, the spec's one `limits default`, a
//! paged client's effective limits (its own field, else the spec's
//! default, else [`defaults::LIMITS`]), and `privileges { }`.

use super::Ctx;
use crate::error::ErrorKind;
use crate::spec::*;
use crate::syntax::{ComponentDecl, LimitValue, LimitsDecl, Spanned};

/// The largest finite limit: `u32::MAX` means unlimited in the compact
/// form and on the pager-info page.
const MAX_LIMIT: u64 = Limits::UNLIMITED as u64 - 1;

/// A `limits { }` block's fields as checked, by [`LimitField`] index.
pub(super) type LimitValues = [Option<u32>; LimitField::ALL.len()];

/// The values of a `limits { }` block; a bad one is reported and left out.
fn values(cx: &mut Ctx<'_>, block: &LimitsDecl) -> LimitValues {
    let mut out = [None; LimitField::ALL.len()];
    for f in LimitField::ALL {
        let Some(v) = block.get(f) else { continue };
        out[f as usize] = match v.value {
            LimitValue::Unlimited => Some(Limits::UNLIMITED),
            LimitValue::Value(n) => {
                let spanned = Spanned {
                    pos: v.pos,
                    value: n,
                };
                if f.is_size() {
                    cx.size(&spanned, f.keyword(), MAX_LIMIT * PAGE_SIZE)
                        .then_some((n / PAGE_SIZE) as u32)
                } else {
                    let ok = (1..=MAX_LIMIT).contains(&n);
                    cx.ranged(&spanned, f.keyword(), 1, MAX_LIMIT);
                    ok.then_some(n as u32)
                }
            }
        };
    }
    out
}

/// The spec's `limits default { }`: one block at most.
pub(super) fn spec_default(cx: &mut Ctx<'_>) -> LimitValues {
    let mut default = [None; LimitField::ALL.len()];
    for (i, block) in cx.ast.default_limits.iter().enumerate() {
        let v = values(cx, block);
        if i == 0 {
            default = v;
        } else {
            cx.err(block.pos, ErrorKind::DuplicateField("limits default"));
        }
    }
    default
}

/// Checks component `d`'s `limits` and `names` (kept by a pager, for its
/// clients: refused on a component without one); returns its effective
/// limits if it is `paged`.
pub(super) fn of_component(
    cx: &mut Ctx<'_>,
    d: &ComponentDecl,
    paged: bool,
    default: &LimitValues,
) -> Option<Limits> {
    let own = d.limits.as_ref().map(|l| {
        if d.pager.is_none() {
            cx.err(l.pos, ErrorKind::NotPaged { field: "limits" });
        }
        values(cx, l)
    });
    if let (Some(n), None) = (&d.names, &d.pager) {
        cx.err(n.pos, ErrorKind::NotPaged { field: "names" });
    }
    paged.then(|| {
        let mut l = defaults::LIMITS;
        for f in LimitField::ALL {
            let mine = own.and_then(|o| o[f as usize]);
            if let Some(v) = mine.or(default[f as usize]) {
                l.set(f, v);
            }
        }
        l
    })
}

/// Component `d`'s `privileges { }` (refused on a component without a
/// pager: its pager grants them).
pub(super) fn privileges(cx: &mut Ctx<'_>, d: &ComponentDecl) -> Privileges {
    let Some(p) = &d.privileges else {
        return Privileges::NONE;
    };
    if d.pager.is_none() {
        cx.err(
            p.pos,
            ErrorKind::NotPaged {
                field: "privileges",
            },
        );
        return Privileges::NONE;
    }
    p.value
        .iter()
        .fold(Privileges::NONE, |set, q| set.with(q.value))
}
