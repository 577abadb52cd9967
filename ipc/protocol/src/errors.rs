//! Error codes: `ErrorCode`, what the shared code needs of a protocol's error enum, `error_codes!`, which declares such an enum from one row per error, and `from_fault!`, a decode error's conversion from `Fault`.

/// A protocol's error: the label of an error reply. Code 0 is success and
/// never an error. Implemented by [`error_codes!`](crate::error_codes).
pub trait ErrorCode: Copy + PartialEq + core::fmt::Debug + 'static {
    /// The client's error for a reply that does not decode (never sent).
    const MALFORMED_REPLY: Self;

    /// The code an error reply's label carries (never 0).
    fn code(self) -> u64;

    /// The error with this code, if any (`None` for 0 and unknown codes).
    fn from_code(code: u64) -> Option<Self>;
}

/// Declares a protocol's error enum from one row per error, `Name = code
/// => "message"`, in code order: the `#[repr(u64)]` enum, `ALL`,
/// `code()`, `from_code()`, `Display` (the messages) and [`ErrorCode`]
/// (`malformed_reply` names the client's error for a reply that does not
/// decode).
///
/// ```ignore
/// ipc_protocol::error_codes! {
///     /// Why an operation failed.
///     #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
///     pub enum FileError {
///         /// No such file.
///         NotFound = 1 => "no such file or directory",
///         MalformedReply = 0x105 => "malformed reply",
///     }
///     malformed_reply: MalformedReply;
/// }
/// ```
#[macro_export]
macro_rules! error_codes {
    (
        $(#[$m:meta])*
        $vis:vis enum $E:ident {
            $( $(#[$vm:meta])* $V:ident = $code:literal => $text:literal, )*
        }
        malformed_reply: $malformed:ident;
    ) => {
        $(#[$m])*
        #[repr(u64)]
        $vis enum $E {
            $( $(#[$vm])* $V = $code, )*
        }

        impl $E {
            /// Every error, in code order.
            pub const ALL: [$E; <[&str]>::len(&[$(stringify!($V)),*])] = [$($E::$V),*];

            /// The code an error reply's label carries (never 0).
            #[inline]
            pub const fn code(self) -> u64 {
                self as u64
            }

            /// The error with this code, if any (`None` for 0 and unknown
            /// codes).
            pub fn from_code(code: u64) -> Option<$E> {
                match code {
                    $( $code => Some($E::$V), )*
                    _ => None,
                }
            }
        }

        impl ::core::fmt::Display for $E {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(match self {
                    $( $E::$V => $text, )*
                })
            }
        }

        impl $crate::ErrorCode for $E {
            const MALFORMED_REPLY: Self = $E::$malformed;

            fn code(self) -> u64 {
                $E::code(self)
            }

            fn from_code(code: u64) -> Option<Self> {
                $E::from_code(code)
            }
        }
    };
}

/// `From<Fault>` for a protocol's decode error `E`, which has the
/// variants `UnknownOperation { label }`, `Truncated { expected, got }`,
/// `TooLong { expected, got }` and `ReservedBits { word }`; an unknown
/// error code becomes `unknown_error`, with `code` bound.
///
/// ```ignore
/// ipc_protocol::from_fault!(DecodeError, unknown_error: |code| DecodeError::UnknownError { code });
/// ```
#[macro_export]
macro_rules! from_fault {
    ($E:ident, unknown_error: |$code:ident| $unknown:expr) => {
        impl ::core::convert::From<$crate::Fault> for $E {
            fn from(f: $crate::Fault) -> $E {
                match f {
                    $crate::Fault::UnknownOperation { label } => $E::UnknownOperation { label },
                    $crate::Fault::UnknownError { code: $code } => $unknown,
                    $crate::Fault::Truncated { expected, got } => $E::Truncated { expected, got },
                    $crate::Fault::TooLong { expected, got } => $E::TooLong { expected, got },
                    $crate::Fault::ReservedBits { word } => $E::ReservedBits { word },
                }
            }
        }
    };
}
