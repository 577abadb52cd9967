//! The generator behind the operation table in `protocol.rs`: `protocol!` turns each row into its `Operation` variant, its `Request` and `Reply` variants with their match arms, its `VmService` method and `serve` arm, and its `VmClient` method.
//!
//! Read the table first; this file only repeats its rows. Everything
//! that differs between operations is in the table (label, payload types,
//! method names, the client's signature) or in the payload types'
//! `wire::Body` impls (the word layouts, in `request.rs` and `reply.rs`).
//!
//! A `macro_rules!` repetition cannot branch, so the small helpers below
//! choose between an operation with a payload type and one without (an
//! empty `()` in the table): `Request::Stats` is a unit variant,
//! `Request::Mmap(MmapRequest)` is not. Each helper is a two-way choice
//! and is used only here.

/// `()` when given nothing, else what it is given: a type or an expression.
macro_rules! or_unit {
    () => {
        ()
    };
    ($($t:tt)+) => {
        $($t)+
    };
}

/// The pattern of a variant: `Enum::Op(bind)` when the operation has a
/// payload type (`[T]`), `Enum::Op` when it has none (`[]`).
macro_rules! pattern {
    ($E:ident :: $Op:ident, $bind:ident, []) => {
        $E::$Op
    };
    ($E:ident :: $Op:ident, $bind:ident, [$T:ty]) => {
        $E::$Op($bind)
    };
}

/// The value of a variant: `Enum::Op(payload)`, or `Enum::Op` when the
/// operation has no payload type; `payload` is then `()` and still
/// evaluated (it may be a call).
macro_rules! wrap {
    ($E:ident :: $Op:ident, $payload:expr, []) => {{
        let () = $payload;
        $E::$Op
    }};
    ($E:ident :: $Op:ident, $payload:expr, [$T:ty]) => {
        $E::$Op($payload)
    };
}

/// What a [`pattern!`] bound: `bind`, or `()` when the operation has no
/// payload type (nothing was bound).
macro_rules! payload {
    ($bind:ident, []) => {
        ()
    };
    ($bind:ident, [$T:ty]) => {
        $bind
    };
}

/// The client method's result from the reply's payload: the payload
/// itself, or the table's `|r| expr` applied to it.
macro_rules! client_result {
    ($payload:expr) => {
        $payload
    };
    ($payload:expr, |$r:ident| $map:expr) => {{
        let $r = $payload;
        $map
    }};
}

/// One `VmService` method: required, or with a default body that calls
/// the function the table names (with the request, if there is one).
macro_rules! service_method {
    ($(#[$doc:meta])* fn $method:ident($($Req:ty)?) -> $Rep:ty) => {
        $(#[$doc])*
        fn $method(&mut self, client: u64 $(, req: $Req)?) -> Result<$Rep, $crate::ApiError>;
    };
    ($(#[$doc:meta])* fn $method:ident($($Req:ty)?) -> $Rep:ty, default $default:path) => {
        $(#[$doc])*
        fn $method(&mut self, client: u64 $(, req: $Req)?) -> Result<$Rep, $crate::ApiError> {
            // `req` unchanged: a repetition must name its metavariable,
            // and `identity::<$Req>` does.
            $default(client $(, ::core::convert::identity::<$Req>(req))?)
        }
    };
}

/// Whether a successful request of the operation is answered: yes,
/// unless the table marks it `[no reply on success]`.
macro_rules! replies_on_success {
    () => {
        true
    };
    (no reply on success) => {
        false
    };
}

/// Declares the protocol from its table; see `protocol.rs` for the
/// table and the meaning of each part of a row.
macro_rules! protocol {
    ($(
        $(#[$doc:meta])*
        $label:literal $Op:ident($($Req:ty)?) -> ($($Rep:ty)?) $([$($flag:tt)*])? {
            serve: fn $method:ident $(, default $default:path)?;
            client: $cvis:vis fn $cname:ident($($p:ident: $pt:ty),* $(,)?)
                $(-> $Out:ty)? $(= $build:expr)? $(=> |$r:ident| $map:expr)?;
        }
    )*) => {
        /// One operation of the protocol; the discriminant is the request's
        /// IPC label.
        ///
        /// The numbers are part of the protocol: never renumber, only
        /// append. They start at `0x100` so they can never be confused with
        /// a kernel fault message (fault labels are below `0x10`) should a
        /// server receive both on one endpoint, and they fit seL4's 20-bit
        /// label field.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u64)]
        pub enum Operation {
            $( $(#[$doc])* $Op = $label, )*
        }

        impl Operation {
            /// Every operation, in label order.
            pub const ALL: [Operation; <[&str]>::len(&[$(stringify!($Op)),*])] =
                [$(Operation::$Op),*];

            /// Whether the server answers a successful request. `Exit` is the
            /// only operation that does not: the caller is gone (a failed
            /// `Exit` is answered with its error).
            #[inline]
            pub const fn replies_on_success(self) -> bool {
                match self {
                    $( Operation::$Op => replies_on_success!($($($flag)*)?), )*
                }
            }
        }

        /// A decoded request: one variant per operation, with the
        /// operation's request type.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Request {
            $( $(#[$doc])* $Op $(($Req))?, )*
        }

        impl Request {
            /// The operation (and so the label) of this request.
            pub const fn operation(&self) -> Operation {
                match self {
                    $( Request::$Op { .. } => Operation::$Op, )*
                }
            }

            /// The request for `op` from exactly the message's words.
            pub(crate) fn decode_body(
                op: Operation,
                words: &[u64],
            ) -> Result<Request, $crate::DecodeError> {
                use $crate::wire::Body;
                Ok(match op {
                    $( Operation::$Op => wrap!(
                        Request::$Op,
                        <or_unit!($($Req)?)>::decode(words)?,
                        [$($Req)?]
                    ), )*
                })
            }

            /// Writes the request's words; returns their number.
            pub(crate) fn encode_body(&self, words: &mut [u64]) -> usize {
                use $crate::wire::Body;
                match self {
                    $( pattern!(Request::$Op, body, [$($Req)?]) =>
                        payload!(body, [$($Req)?]).encode(words), )*
                }
            }
        }

        /// A decoded successful reply: one variant per operation, with the
        /// operation's reply type.
        ///
        /// `Mincore`'s variant is about 1 KiB: a reply lives on the stack for
        /// one call, and boxing would need an allocator in the hot path.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reply {
            $( $(#[$doc])* $Op $(($Rep))?, )*
        }

        impl Reply {
            /// The operation this replies to.
            pub const fn operation(&self) -> Operation {
                match self {
                    $( Reply::$Op { .. } => Operation::$Op, )*
                }
            }

            /// The successful reply to `op` from exactly the message's words.
            pub(crate) fn decode_body(
                op: Operation,
                words: &[u64],
            ) -> Result<Reply, $crate::DecodeError> {
                use $crate::wire::Body;
                Ok(match op {
                    $( Operation::$Op => wrap!(
                        Reply::$Op,
                        <or_unit!($($Rep)?)>::decode(words)?,
                        [$($Rep)?]
                    ), )*
                })
            }

            /// Writes the reply's words; returns their number.
            pub(crate) fn encode_body(&self, words: &mut [u64]) -> usize {
                use $crate::wire::Body;
                match self {
                    $( pattern!(Reply::$Op, body, [$($Rep)?]) =>
                        payload!(body, [$($Rep)?]).encode(words), )*
                }
            }
        }

        /// The VM server's operations. `client` is the caller's client id
        /// (the badge its endpoint capability carries); each method gets the
        /// decoded, already validated request and returns the reply or the
        /// error to send.
        ///
        /// The caller of every method is [`serve`], from [`dispatch`] in the
        /// server's single-threaded loop.
        ///
        /// [`dispatch`]: crate::dispatch
        pub trait VmService {
            $( service_method! {
                $(#[$doc])*
                fn $method($($Req)?) -> or_unit!($($Rep)?) $(, default $default)?
            } )*
        }

        /// Calls the method of `svc` that `req` names.
        pub fn serve<S: VmService + ?Sized>(
            svc: &mut S,
            client: u64,
            req: Request,
        ) -> Result<Reply, $crate::ApiError> {
            Ok(match req {
                $( pattern!(Request::$Op, body, [$($Req)?]) => wrap!(
                    Reply::$Op,
                    // `body` unchanged (see `service_method!`).
                    svc.$method(client $(, ::core::convert::identity::<$Req>(body))?)?,
                    [$($Rep)?]
                ), )*
            })
        }

        impl<T: $crate::Transport> $crate::VmClient<T> {
            $(
                $(#[$doc])*
                $cvis fn $cname(
                    &mut self $(, $p: $pt)*
                ) -> Result<or_unit!($($Out)?), $crate::ApiError> {
                    let request = wrap!(Request::$Op, or_unit!($($build)?), [$($Req)?]);
                    match self.request(&request)? {
                        pattern!(Reply::$Op, reply, [$($Rep)?]) => Ok(client_result!(
                            payload!(reply, [$($Rep)?]) $(, |$r| $map)?
                        )),
                        _ => Err($crate::ApiError::MalformedReply),
                    }
                }
            )*
        }
    };
}
