//! `protocol!`, the table macro: each row of a protocol's operation table becomes its `Operation`, `Request` and `Reply` variants with their match arms, its service-trait method and `serve` arm, and its client-stub method; the header names the generated items and gives their docs.
//!
//! Everything that differs between operations is in the row (label,
//! payload types, method names, the client's signature) or in the payload
//! types' [`Body`](crate::Body) impls (the words). Everything the same for
//! every operation is ordinary generic code over [`Protocol`]
//! (`codec.rs`, `client.rs`); the expansion only matches on the
//! operation and calls it.
//!
//! A `macro_rules!` repetition cannot branch, so the small `__ipc_*`
//! helpers choose between an operation with a payload type and one
//! without (an empty `()` in the row): `Request::Stats` is a unit
//! variant, `Request::Mmap(MmapRequest)` is not. They are exported only
//! because the expansion names them; nothing else should.
//!
//! [`Protocol`]: crate::Protocol

/// Declares a protocol from its operation table.
///
/// ```ignore
/// ipc_protocol::protocol! {
///     errors: crate::FileError, crate::DecodeError;
///
///     /// docs and attributes of each generated item, then its name:
///     pub enum Operation;
///     #[derive(Clone, Debug, PartialEq, Eq)]
///     pub enum Request;
///     #[derive(Clone, Debug, PartialEq, Eq)]
///     pub enum Reply;
///     pub trait FileService;
///     pub fn serve;
///     pub fn dispatch;
///     pub struct Loopback;
///     #[derive(Clone, Copy, Debug)]
///     pub struct FileClient;
///
///     /// Closes a handle.                           <- docs of every item the row makes
///     0x204 Close(HandleRequest) -> (()) {            <- label, name(request type) -> (reply type)
///         serve: fn close;                            <- the service method
///         client: pub fn close(handle: Handle)        <- the client method,
///             = HandleRequest { handle };             <- the request it sends
///     }
/// }
/// ```
///
/// A row:
/// * `label Name(Req) -> (Rep)`: the label (the `Operation`
///   discriminant) and the variant name in all three enums, with the
///   request and reply payload types. An empty `()` is no payload: an
///   empty message, a unit variant, no `req` argument or a `()` result in
///   the service trait; `(())` is a variant holding `()`. A type may
///   serve several operations. Each payload type implements
///   [`Body`](crate::Body)`<DecodeError>`.
/// * `[no reply on success]` after the reply type: a successful request
///   is not answered (`Operation::replies_on_success`,
///   [`needs_reply`](crate::needs_reply)).
/// * `serve: fn name`: the service method `fn name(&mut self, client:
///   u64, req: Req) -> Result<Rep, Error>` (without `req` for no request
///   type), which `serve` calls. `default f`: the trait's default body
///   calls `f(client, req)`.
/// * `client: vis fn name(params) -> Out = request => |r| result`: the
///   stub method. `= request` builds the request payload from the
///   parameters (may use `?` with the protocol's error; absent for no
///   request type); `-> Out` is the result (absent: `()`); `=> |r|
///   result` makes it from the reply payload `r` (absent: the payload
///   itself).
///
/// Generated: the operation enum (`#[repr(u64)]`, the label its
/// discriminant) with `ALL`, `label`, `replies_on_success`,
/// `TryFrom<u64>` and `From<Operation> for u64`; the request and reply
/// enums with `operation`, `decode` and `encode` (and the reply's
/// `encode_result`); the service trait, `serve` and `dispatch`; the
/// loopback transport (`dispatch` in the same program, for host tests);
/// the client stub with `new`, `with_transport`, `request` and one method
/// per row; and [`Protocol`](crate::Protocol) for the operation enum.
#[macro_export]
macro_rules! protocol {
    (
        errors: $Error:ty, $DecodeError:ty;

        $(#[$om:meta])* $ovis:vis enum $Operation:ident;
        $(#[$rqm:meta])* $rqvis:vis enum $Request:ident;
        $(#[$rpm:meta])* $rpvis:vis enum $Reply:ident;
        $(#[$sm:meta])* $svis:vis trait $Service:ident;
        $(#[$sfm:meta])* $sfvis:vis fn $serve:ident;
        $(#[$dm:meta])* $dvis:vis fn $dispatch:ident;
        $(#[$lm:meta])* $lvis:vis struct $Loopback:ident;
        $(#[$cm:meta])* $cvis:vis struct $Client:ident;

        $(
            $(#[$doc:meta])*
            $label:literal $Op:ident($($Req:ty)?) -> ($($Rep:ty)?) $([$($flag:tt)*])? {
                serve: fn $method:ident $(, default $default:path)?;
                client: $mvis:vis fn $cname:ident($($p:ident: $pt:ty),* $(,)?)
                    $(-> $Out:ty)? $(= $build:expr)? $(=> |$r:ident| $map:expr)?;
            }
        )*
    ) => {
        $(#[$om])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u64)]
        $ovis enum $Operation {
            $( $(#[$doc])* $Op = $label, )*
        }

        impl $Operation {
            /// Every operation, in label order.
            pub const ALL: [$Operation; <[&str]>::len(&[$(stringify!($Op)),*])] =
                [$($Operation::$Op),*];

            /// The IPC label of requests for this operation.
            #[inline]
            pub const fn label(self) -> u64 {
                self as u64
            }

            /// Whether the server answers a successful request: yes,
            /// unless the table marks the operation `[no reply on
            /// success]` (a failed request is always answered).
            #[inline]
            pub const fn replies_on_success(self) -> bool {
                match self {
                    $( $Operation::$Op => $crate::__ipc_replies!($($($flag)*)?), )*
                }
            }
        }

        impl ::core::convert::TryFrom<u64> for $Operation {
            type Error = $DecodeError;

            fn try_from(label: u64) -> ::core::result::Result<Self, $DecodeError> {
                $crate::operation::<$Operation>(label)
            }
        }

        impl ::core::convert::From<$Operation> for u64 {
            fn from(op: $Operation) -> u64 {
                op.label()
            }
        }

        $(#[$rqm])*
        $rqvis enum $Request {
            $( $(#[$doc])* $Op $(($Req))?, )*
        }

        impl $Request {
            /// The operation (and so the label) of this request.
            pub const fn operation(&self) -> $Operation {
                match self {
                    $( $Request::$Op { .. } => $Operation::$Op, )*
                }
            }

            /// The request a message carries: `label` and exactly its
            /// `words`. Total: every input gives a request or a decode
            /// error.
            pub fn decode(label: u64, words: &[u64]) -> ::core::result::Result<$Request, $DecodeError> {
                $crate::decode_request::<$Operation>(label, words)
            }

            /// Writes the request's words into `out` (at least
            /// [`MAX_WORDS`](ipc_protocol::MAX_WORDS) long); returns its
            /// label and length.
            pub fn encode(&self, out: &mut [u64]) -> (u64, usize) {
                $crate::encode_request::<$Operation>(self, out)
            }
        }

        $(#[$rpm])*
        $rpvis enum $Reply {
            $( $(#[$doc])* $Op $(($Rep))?, )*
        }

        impl $Reply {
            /// The operation this replies to.
            pub const fn operation(&self) -> $Operation {
                match self {
                    $( $Reply::$Op { .. } => $Operation::$Op, )*
                }
            }

            /// The reply to an `op` request: `Ok(Ok(reply))` for label 0
            /// and well-formed words, `Ok(Err(error))` for an error code
            /// without words, `Err` for anything else. Total: never
            /// panics.
            pub fn decode(
                op: $Operation,
                label: u64,
                words: &[u64],
            ) -> ::core::result::Result<::core::result::Result<$Reply, $Error>, $DecodeError> {
                $crate::decode_reply::<$Operation>(op, label, words)
            }

            /// Writes the reply's words into `out` (at least
            /// [`MAX_WORDS`](ipc_protocol::MAX_WORDS) long); returns its
            /// label (0) and length.
            pub fn encode(&self, out: &mut [u64]) -> (u64, usize) {
                $crate::encode_reply::<$Operation>(self, out)
            }

            /// The message answering with `result`: the reply, or the
            /// error's code as the label and no words.
            pub fn encode_result(
                result: &::core::result::Result<$Reply, $Error>,
                out: &mut [u64],
            ) -> (u64, usize) {
                $crate::encode_result::<$Operation>(result, out)
            }
        }

        $(#[$sm])*
        $svis trait $Service {
            $( $crate::__ipc_service_method! {
                $Error;
                $(#[$doc])*
                fn $method($($Req)?) -> $crate::__ipc_or_unit!($($Rep)?) $(, default $default)?
            } )*
        }

        $(#[$sfm])*
        $sfvis fn $serve<S: $Service + ?Sized>(
            svc: &mut S,
            client: u64,
            req: $Request,
        ) -> ::core::result::Result<$Reply, $Error> {
            ::core::result::Result::Ok(match req {
                $( $crate::__ipc_pattern!($Request::$Op, body, [$($Req)?]) => $crate::__ipc_wrap!(
                    $Reply::$Op,
                    // `body` unchanged: a repetition must name its
                    // metavariable, and `identity::<$Req>` does.
                    svc.$method(client $(, ::core::convert::identity::<$Req>(body))?)?,
                    [$($Rep)?]
                ), )*
            })
        }

        $(#[$dm])*
        $dvis fn $dispatch<S: $Service + ?Sized>(
            svc: &mut S,
            client: u64,
            label: u64,
            words: &[u64],
            out: &mut [u64],
        ) -> (u64, usize) {
            // Each arm encodes its own payload type straight into `out`:
            // going through `serve` would build the whole reply enum (as
            // large as the largest reply) and move it, which costs more
            // than the request itself under QEMU (docs/performance.md).
            // Same answer as `codec::dispatch` with `serve`.
            let req = match $crate::decode_request::<$Operation>(label, words) {
                ::core::result::Result::Ok(req) => req,
                ::core::result::Result::Err(e) => {
                    return ($crate::ErrorCode::code(<$Error>::from(e)), 0);
                }
            };
            match req {
                $( $crate::__ipc_pattern!($Request::$Op, body, [$($Req)?]) => {
                    match svc.$method(client $(, ::core::convert::identity::<$Req>(body))?) {
                        ::core::result::Result::Ok(rep) => (
                            0,
                            <$crate::__ipc_or_unit!($($Rep)?) as $crate::Body<$DecodeError>>::encode(
                                &rep, out,
                            ),
                        ),
                        ::core::result::Result::Err(e) => ($crate::ErrorCode::code(e), 0),
                    }
                } )*
            }
        }

        $(#[$lm])*
        $lvis struct $Loopback<'a, S: $Service + ?Sized> {
            pub service: &'a mut S,
            pub client: u64,
        }

        impl<S: $Service + ?Sized> $crate::Transport for $Loopback<'_, S> {
            fn call(&mut self, label: u64, words: &[u64], reply: &mut [u64]) -> (u64, usize) {
                $dispatch(self.service, self.client, label, words, reply)
            }
        }

        $(#[$cm])*
        $cvis struct $Client<T: $crate::Transport = $crate::Sel4Transport> {
            pub transport: T,
        }

        impl $Client<$crate::Sel4Transport> {
            /// A client calling the server through `endpoint`.
            pub const fn new(endpoint: $crate::CPtr) -> Self {
                $Client {
                    transport: $crate::Sel4Transport { endpoint },
                }
            }
        }

        impl<T: $crate::Transport> $Client<T> {
            /// A client over any transport.
            pub const fn with_transport(transport: T) -> Self {
                $Client { transport }
            }

            /// Sends `req` and decodes the reply; a reply that does not
            /// decode is `MalformedReply`.
            pub fn request(&mut self, req: &$Request) -> ::core::result::Result<$Reply, $Error> {
                $crate::request::<$Operation, T>(&mut self.transport, req)
            }

            $(
                $(#[$doc])*
                $mvis fn $cname(
                    &mut self $(, $p: $pt)*
                ) -> ::core::result::Result<$crate::__ipc_or_unit!($($Out)?), $Error> {
                    let request = $crate::__ipc_wrap!(
                        $Request::$Op,
                        $crate::__ipc_or_unit!($($build)?),
                        [$($Req)?]
                    );
                    match self.request(&request)? {
                        $crate::__ipc_pattern!($Reply::$Op, reply, [$($Rep)?]) => {
                            ::core::result::Result::Ok($crate::__ipc_client_result!(
                                $crate::__ipc_payload!(reply, [$($Rep)?]) $(, |$r| $map)?
                            ))
                        }
                        #[allow(unreachable_patterns)]
                        _ => ::core::result::Result::Err(
                            <$Error as $crate::ErrorCode>::MALFORMED_REPLY,
                        ),
                    }
                }
            )*
        }

        impl $crate::Protocol for $Operation {
            type Request = $Request;
            type Reply = $Reply;
            type Error = $Error;
            type DecodeError = $DecodeError;

            const OPERATIONS: &'static [Self] = &$Operation::ALL;

            fn label(self) -> u64 {
                $Operation::label(self)
            }

            fn replies_on_success(self) -> bool {
                $Operation::replies_on_success(self)
            }

            fn of_request(req: &$Request) -> Self {
                req.operation()
            }

            fn of_reply(rep: &$Reply) -> Self {
                rep.operation()
            }

            fn decode_request_body(
                self,
                words: &[u64],
            ) -> ::core::result::Result<$Request, $DecodeError> {
                $crate::__ipc_decode!($Operation, $Request, $DecodeError, self, words, $($Op [$($Req)?])*)
            }

            fn encode_request_body(req: &$Request, out: &mut [u64]) -> usize {
                $crate::__ipc_encode!($Request, $DecodeError, req, out, $($Op [$($Req)?])*)
            }

            fn decode_reply_body(
                self,
                words: &[u64],
            ) -> ::core::result::Result<$Reply, $DecodeError> {
                $crate::__ipc_decode!($Operation, $Reply, $DecodeError, self, words, $($Op [$($Rep)?])*)
            }

            fn encode_reply_body(rep: &$Reply, out: &mut [u64]) -> usize {
                $crate::__ipc_encode!($Reply, $DecodeError, rep, out, $($Op [$($Rep)?])*)
            }
        }
    };
}

/// The decoder of a request or reply enum `E`: for operation `op`, the
/// variant `Op` with its payload type (`[T]`, or `[]` for none) from
/// exactly `words`.
#[doc(hidden)]
#[macro_export]
macro_rules! __ipc_decode {
    ($Operation:ident, $E:ident, $DE:ty, $op:expr, $words:expr, $($Op:ident [$($T:ty)?])*) => {
        ::core::result::Result::Ok(match $op {
            $( $Operation::$Op => $crate::__ipc_wrap!(
                $E::$Op,
                <$crate::__ipc_or_unit!($($T)?) as $crate::Body<$DE>>::decode($words)?,
                [$($T)?]
            ), )*
        })
    };
}

/// The encoder of a request or reply enum `E`: `value`'s payload (of type
/// `T`, `()` for none) into `out`; returns its words.
#[doc(hidden)]
#[macro_export]
macro_rules! __ipc_encode {
    ($E:ident, $DE:ty, $value:expr, $out:expr, $($Op:ident [$($T:ty)?])*) => {
        match $value {
            $( $crate::__ipc_pattern!($E::$Op, body, [$($T)?]) =>
                <$crate::__ipc_or_unit!($($T)?) as $crate::Body<$DE>>::encode(
                    &$crate::__ipc_payload!(body, [$($T)?]),
                    $out,
                ), )*
        }
    };
}

/// `()` when given nothing, else what it is given: a type or an expression.
#[doc(hidden)]
#[macro_export]
macro_rules! __ipc_or_unit {
    () => {
        ()
    };
    ($($t:tt)+) => {
        $($t)+
    };
}

/// The pattern of a variant: `Enum::Op(bind)` when the operation has a
/// payload type (`[T]`), `Enum::Op` when it has none (`[]`).
#[doc(hidden)]
#[macro_export]
macro_rules! __ipc_pattern {
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
#[doc(hidden)]
#[macro_export]
macro_rules! __ipc_wrap {
    ($E:ident :: $Op:ident, $payload:expr, []) => {{
        let () = $payload;
        $E::$Op
    }};
    ($E:ident :: $Op:ident, $payload:expr, [$T:ty]) => {
        $E::$Op($payload)
    };
}

/// What a [`__ipc_pattern!`] bound: `bind`, or `()` when the operation
/// has no payload type (nothing was bound).
#[doc(hidden)]
#[macro_export]
macro_rules! __ipc_payload {
    ($bind:ident, []) => {
        ()
    };
    ($bind:ident, [$T:ty]) => {
        $bind
    };
}

/// The client method's result from the reply's payload: the payload
/// itself, or the row's `|r| expr` applied to it.
#[doc(hidden)]
#[macro_export]
macro_rules! __ipc_client_result {
    ($payload:expr) => {
        $payload
    };
    ($payload:expr, |$r:ident| $map:expr) => {{
        let $r = $payload;
        $map
    }};
}

/// One service-trait method: required, or with a default body that calls
/// the function the row names (with the request, if there is one).
#[doc(hidden)]
#[macro_export]
macro_rules! __ipc_service_method {
    ($Error:ty; $(#[$doc:meta])* fn $method:ident($($Req:ty)?) -> $Rep:ty) => {
        $(#[$doc])*
        fn $method(&mut self, client: u64 $(, req: $Req)?) -> ::core::result::Result<$Rep, $Error>;
    };
    ($Error:ty; $(#[$doc:meta])* fn $method:ident($($Req:ty)?) -> $Rep:ty, default $default:path) => {
        $(#[$doc])*
        fn $method(&mut self, client: u64 $(, req: $Req)?) -> ::core::result::Result<$Rep, $Error> {
            // `req` unchanged (see `serve`).
            $default(client $(, ::core::convert::identity::<$Req>(req))?)
        }
    };
}

/// Whether a successful request is answered: yes, unless the row is
/// marked `[no reply on success]`.
#[doc(hidden)]
#[macro_export]
macro_rules! __ipc_replies {
    () => {
        true
    };
    (no reply on success) => {
        false
    };
}

/// A toy protocol with every kind of row: payload and none, a reply that
/// holds `()`, a default method, a silent success.
#[cfg(test)]
mod tests {
    use crate::testing::{check_dispatch, check_reply, check_request};
    use crate::{Body, Fault, Transport};

    crate::error_codes! {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ToyError {
            Refused = 1 => "refused",
            UnknownOperation = 0x100 => "unknown operation",
            Malformed = 0x101 => "malformed",
            MalformedReply = 0x102 => "malformed reply",
        }
        malformed_reply: MalformedReply;
    }

    impl From<Fault> for ToyError {
        fn from(e: Fault) -> ToyError {
            match e {
                Fault::UnknownOperation { .. } => ToyError::UnknownOperation,
                _ => ToyError::Malformed,
            }
        }
    }

    /// One word, any value.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Word(u64);

    impl Body<Fault> for Word {
        fn encode(&self, out: &mut [u64]) -> usize {
            out[0] = self.0;
            1
        }

        fn decode(words: &[u64]) -> Result<Self, Fault> {
            Ok(Word(crate::words::exactly(words, 1)?[0]))
        }
    }

    fn double(_client: u64, w: Word) -> Result<Word, ToyError> {
        Ok(Word(w.0.wrapping_mul(2)))
    }

    crate::protocol! {
        errors: ToyError, Fault;

        pub enum Operation;
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Request;
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Reply;
        pub trait ToyService;
        pub fn serve;
        pub fn dispatch;
        pub struct Loopback;
        pub struct ToyClient;

        /// Doubles a word (the default method).
        0x10 Double(Word) -> (Word) {
            serve: fn double, default double;
            client: pub fn double(v: u64) -> u64 = Word(v) => |r| r.0;
        }
        /// Nothing at all.
        0x11 Nop() -> () {
            serve: fn nop;
            client: pub fn nop();
        }
        /// Stores a word; replies a `()`.
        0x12 Store(Word) -> (()) {
            serve: fn store;
            client: pub fn store(v: u64) = Word(v);
        }
        /// Goes away: not answered on success.
        0x13 Quit() -> () [no reply on success] {
            serve: fn quit;
            client: pub fn quit();
        }
    }

    #[derive(Default)]
    struct Toy {
        stored: Vec<(u64, u64)>,
    }

    impl ToyService for Toy {
        fn nop(&mut self, _: u64) -> Result<(), ToyError> {
            Ok(())
        }
        fn store(&mut self, client: u64, w: Word) -> Result<(), ToyError> {
            if w.0 == 0 {
                return Err(ToyError::Refused);
            }
            self.stored.push((client, w.0));
            Ok(())
        }
        fn quit(&mut self, _: u64) -> Result<(), ToyError> {
            Ok(())
        }
    }

    #[test]
    fn the_stub_reaches_the_service() {
        let mut toy = Toy::default();
        let mut c = ToyClient::with_transport(Loopback {
            service: &mut toy,
            client: 7,
        });
        assert_eq!(c.double(21), Ok(42));
        assert_eq!(c.nop(), Ok(()));
        assert_eq!(c.store(5), Ok(()));
        assert_eq!(c.store(0), Err(ToyError::Refused));
        assert_eq!(c.quit(), Ok(()));
        assert_eq!(toy.stored, [(7, 5)]);
        // The system stub (seL4 `Call`) exists too; it needs a kernel.
        let _system: fn(crate::CPtr) -> ToyClient = ToyClient::new;
    }

    #[test]
    fn messages_follow_the_shared_rules() {
        let mut w = [0u64; 4];
        assert_eq!(Request::Store(Word(3)).encode(&mut w), (0x12, 1));
        assert_eq!(Request::decode(0x12, &w[..1]), Ok(Request::Store(Word(3))));
        assert_eq!(Request::Nop.encode(&mut w), (0x11, 0));
        assert_eq!(Reply::Store(()).encode(&mut w), (0, 0));
        assert_eq!(
            Request::decode(0x14, &[]),
            Err(Fault::UnknownOperation { label: 0x14 })
        );
        assert_eq!(
            Reply::decode(Operation::Nop, 9, &[]),
            Err(Fault::UnknownError { code: 9 })
        );
        assert_eq!(
            Reply::decode(Operation::Nop, 1, &[0]),
            Err(Fault::TooLong {
                expected: 0,
                got: 1
            })
        );
        assert_eq!(
            Reply::decode(Operation::Nop, 1, &[]),
            Ok(Err(ToyError::Refused))
        );
        assert_eq!(Operation::try_from(0x13), Ok(Operation::Quit));
        assert_eq!(u64::from(Operation::Double), 0x10);
        assert!(!Operation::Quit.replies_on_success() && Operation::Nop.replies_on_success());
        assert!(!crate::needs_reply::<Operation>(0x13, 0));
        assert!(crate::needs_reply::<Operation>(0x13, 1));
        assert!(crate::needs_reply::<Operation>(0x99, 0));
        // A reply longer than a message is malformed, never a panic.
        struct Long;
        impl Transport for Long {
            fn call(&mut self, _: u64, _: &[u64], _: &mut [u64]) -> (u64, usize) {
                (0, crate::MAX_WORDS + 1)
            }
        }
        assert_eq!(
            ToyClient::with_transport(Long).nop(),
            Err(ToyError::MalformedReply)
        );
    }

    #[test]
    fn dispatch_answers_as_serve_does() {
        // The generated `dispatch` encodes each arm's reply in place; the
        // shared rule (`codec::dispatch` over `serve`) must agree with it
        // on every answer, refusals and malformed messages included.
        for label in [0, 0x10, 0x11, 0x12, 0x13, 0x14] {
            for words in [&[][..], &[0], &[5], &[1, 2]] {
                let (mut a, mut b) = (Toy::default(), Toy::default());
                let (mut out_a, mut out_b) = ([0u64; 4], [0u64; 4]);
                let got = dispatch(&mut a, 3, label, words, &mut out_a);
                let want = crate::dispatch::<Operation>(label, words, &mut out_b, |req| {
                    serve(&mut b, 3, req)
                });
                assert_eq!(got, want, "label {label:#x}, words {words:?}");
                assert_eq!(out_a[..got.1], out_b[..want.1]);
                assert_eq!(a.stored, b.stored);
            }
        }
    }

    #[test]
    fn error_codes_round_trip() {
        use crate::ErrorCode;
        assert_eq!(ToyError::ALL.len(), 4);
        for e in ToyError::ALL {
            assert_eq!(ToyError::from_code(e.code()), Some(e));
            assert_eq!(<ToyError as ErrorCode>::from_code(e.code()), Some(e));
        }
        assert_eq!(ToyError::from_code(0), None);
        assert_eq!(ToyError::from_code(2), None);
        assert_eq!(ToyError::MALFORMED_REPLY, ToyError::MalformedReply);
        assert_eq!(ToyError::Refused.to_string(), "refused");
    }

    #[test]
    fn the_checks_hold_for_the_toy() {
        let mut toy = Toy::default();
        for label in [0, 0x10, 0x11, 0x12, 0x13, 0x14] {
            for words in [&[][..], &[0], &[1, 2]] {
                check_request::<Operation>(label, words).unwrap();
                check_dispatch::<Operation>(label, words, |l, w, out| {
                    dispatch(&mut toy, 1, l, w, out)
                })
                .unwrap();
                for op in Operation::ALL {
                    check_reply(op, label, words, false).unwrap();
                }
            }
        }
    }
}
