//! The generator behind the operation table in `protocol.rs`: `protocol!` turns each row into its `Operation` variant, its `Request` and `Reply` variants with their match arms, its `FileService` method and `serve` arm, and its `FileClient` method.
//!
//! The idea is `vm-api`'s (`vm-server/api/src/generate.rs`), cut down:
//! every operation here has a request type and a reply type (`()` for an
//! empty reply), so every variant is a tuple variant and no row needs a
//! default method or a silent success; the generator needs no helper
//! macros to choose between shapes.

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

/// Declares the protocol from its table; see `protocol.rs` for the
/// table and the meaning of each part of a row.
macro_rules! protocol {
    ($(
        $(#[$doc:meta])*
        $label:literal $Op:ident($Req:ty) -> ($Rep:ty) {
            serve: fn $method:ident;
            client: $cvis:vis fn $cname:ident($($p:ident: $pt:ty),* $(,)?)
                $(-> $Out:ty)? = $build:expr $(=> |$r:ident| $map:expr)?;
        }
    )*) => {
        /// One operation of the protocol; the discriminant is the request's
        /// IPC label (from `0x200`: clear of kernel fault labels and of
        /// `vm-api`'s `0x1xx`, so a message sent to the wrong server is
        /// refused as an unknown operation).
        ///
        /// Never renumber, only append.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u64)]
        pub enum Operation {
            $( $(#[$doc])* $Op = $label, )*
        }

        impl Operation {
            /// Every operation, in label order.
            pub const ALL: [Operation; <[&str]>::len(&[$(stringify!($Op)),*])] =
                [$(Operation::$Op),*];
        }

        /// A decoded request: one variant per operation.
        ///
        /// `Write`'s variant holds its data inline (about 1 KiB): a request
        /// lives on the stack for one call, and the server has no allocator
        /// to spare in its loop.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Request {
            $( $(#[$doc])* $Op($Req), )*
        }

        impl Request {
            /// The operation (and so the label) of this request.
            pub const fn operation(&self) -> Operation {
                match self {
                    $( Request::$Op(_) => Operation::$Op, )*
                }
            }

            /// The request for `op` from exactly the message's words.
            pub(crate) fn decode_body(
                op: Operation,
                words: &[u64],
            ) -> Result<Request, $crate::DecodeError> {
                use $crate::wire::Body;
                Ok(match op {
                    $( Operation::$Op => Request::$Op(<$Req>::decode(words)?), )*
                })
            }

            /// Writes the request's words; returns their number.
            pub(crate) fn encode_body(&self, words: &mut [u64]) -> usize {
                use $crate::wire::Body;
                match self {
                    $( Request::$Op(body) => body.encode(words), )*
                }
            }
        }

        /// A decoded successful reply: one variant per operation.
        ///
        /// `Read`'s variant holds its data inline (about 1 KiB), as
        /// `Request::Write` does.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Reply {
            $( $(#[$doc])* $Op($Rep), )*
        }

        impl Reply {
            /// The operation this replies to.
            pub const fn operation(&self) -> Operation {
                match self {
                    $( Reply::$Op(_) => Operation::$Op, )*
                }
            }

            /// The successful reply to `op` from exactly the message's words.
            pub(crate) fn decode_body(
                op: Operation,
                words: &[u64],
            ) -> Result<Reply, $crate::DecodeError> {
                use $crate::wire::Body;
                Ok(match op {
                    $( Operation::$Op => Reply::$Op(<$Rep>::decode(words)?), )*
                })
            }

            /// Writes the reply's words; returns their number.
            pub(crate) fn encode_body(&self, words: &mut [u64]) -> usize {
                use $crate::wire::Body;
                match self {
                    $( Reply::$Op(body) => body.encode(words), )*
                }
            }
        }

        /// The file server's operations. `client` is the caller's client
        /// id (the badge its endpoint capability carries); each method gets
        /// the decoded, already validated request and returns the reply or
        /// the error to send.
        ///
        /// The caller of every method is [`serve`], from
        /// [`dispatch`](crate::dispatch) in the server's single-threaded
        /// loop.
        pub trait FileService {
            $(
                $(#[$doc])*
                fn $method(&mut self, client: u64, req: $Req) -> Result<$Rep, $crate::FileError>;
            )*
        }

        /// Calls the method of `svc` that `req` names.
        pub fn serve<S: FileService + ?Sized>(
            svc: &mut S,
            client: u64,
            req: Request,
        ) -> Result<Reply, $crate::FileError> {
            Ok(match req {
                $( Request::$Op(body) => Reply::$Op(svc.$method(client, body)?), )*
            })
        }

        impl<T: $crate::Transport> $crate::FileClient<T> {
            $(
                $(#[$doc])*
                $cvis fn $cname(
                    &mut self $(, $p: $pt)*
                ) -> Result<$crate::generate::or_unit!($($Out)?), $crate::FileError> {
                    let request = Request::$Op($build);
                    match self.request(&request)? {
                        Reply::$Op(reply) => Ok(client_result!(reply $(, |$r| $map)?)),
                        #[allow(unreachable_patterns)]
                        _ => Err($crate::FileError::MalformedReply),
                    }
                }
            )*
        }
    };
}

/// `()` when given nothing, else the type it is given.
macro_rules! or_unit {
    () => {
        ()
    };
    ($t:ty) => {
        $t
    };
}
pub(crate) use or_unit;
