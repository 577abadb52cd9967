//! The server side: the `VmService` trait with one method per operation, and `dispatch`, the pure decode-call-encode step of the server loop.

use crate::error::ApiError;
use crate::reply::*;
use crate::request::*;

/// The VM server's operations. `client` is the caller's client id (the
/// badge its endpoint capability carries); each method gets the decoded,
/// already validated request and returns the reply or the error to send.
///
/// The caller of every method is [`dispatch`], from the server's
/// single-threaded loop.
pub trait VmService {
    /// No-op round trip; the default echoes the cookie.
    fn ping(&mut self, client: u64, req: PingRequest) -> Result<PingReply, ApiError> {
        let _ = client;
        Ok(PingReply { cookie: req.cookie })
    }
    /// Global counters.
    fn stats(&mut self, client: u64) -> Result<VmStats, ApiError>;
    /// The caller's counters.
    fn client_stats(&mut self, client: u64) -> Result<ClientStats, ApiError>;
    fn mmap(&mut self, client: u64, req: MmapRequest) -> Result<MmapReply, ApiError>;
    fn munmap(&mut self, client: u64, req: RangeRequest) -> Result<(), ApiError>;
    fn mprotect(&mut self, client: u64, req: MprotectRequest) -> Result<(), ApiError>;
    fn minherit(&mut self, client: u64, req: MinheritRequest) -> Result<(), ApiError>;
    fn madvise(&mut self, client: u64, req: MadviseRequest) -> Result<(), ApiError>;
    fn msync(&mut self, client: u64, req: MsyncRequest) -> Result<(), ApiError>;
    /// Residency of at most [`MINCORE_MAX_PAGES`] pages from `req.addr`.
    fn mincore(&mut self, client: u64, req: RangeRequest) -> Result<MincoreReply, ApiError>;
    fn mlock(&mut self, client: u64, req: RangeRequest) -> Result<(), ApiError>;
    fn munlock(&mut self, client: u64, req: RangeRequest) -> Result<(), ApiError>;
    fn shm_create(&mut self, client: u64, req: ShmCreateRequest) -> Result<HandleReply, ApiError>;
    fn shm_open(&mut self, client: u64, req: ShmOpenRequest) -> Result<HandleReply, ApiError>;
    fn shm_unlink(&mut self, client: u64, req: ShmUnlinkRequest) -> Result<(), ApiError>;
    fn shm_truncate(&mut self, client: u64, req: ShmTruncateRequest) -> Result<(), ApiError>;
    fn handle_close(&mut self, client: u64, req: HandleCloseRequest) -> Result<(), ApiError>;
    fn handle_share(
        &mut self,
        client: u64,
        req: HandleShareRequest,
    ) -> Result<HandleReply, ApiError>;
    /// Lets `req.from` push up to `req.count` handles into the caller.
    fn handle_accept(&mut self, client: u64, req: HandleAcceptRequest) -> Result<(), ApiError>;
    /// Duplicates the caller; returns `ForkReply::Parent` for the caller.
    /// The implementation starts the child with the encoding of
    /// `ForkReply::Child` as its reply (see [`Reply::encode`]).
    fn fork(&mut self, client: u64) -> Result<ForkReply, ApiError>;
    /// Destroys the caller. On success the server must not reply (see
    /// [`needs_reply`]).
    fn exit(&mut self, client: u64, req: ExitRequest) -> Result<(), ApiError>;
    /// Test hook: fail the caller's next page-in as a disk error would.
    /// The default refuses it (a server without swap has nothing to fail).
    fn fail_next_pagein(&mut self, client: u64) -> Result<(), ApiError> {
        let _ = client;
        Err(ApiError::UnknownOperation)
    }
}

/// Calls the method of `svc` that `req` names.
pub fn serve<S: VmService + ?Sized>(
    svc: &mut S,
    client: u64,
    req: Request,
) -> Result<Reply, ApiError> {
    let c = client;
    Ok(match req {
        Request::Ping(r) => Reply::Ping(svc.ping(c, r)?),
        Request::Stats => Reply::Stats(svc.stats(c)?),
        Request::ClientStats => Reply::ClientStats(svc.client_stats(c)?),
        Request::Mmap(r) => Reply::Mmap(svc.mmap(c, r)?),
        Request::Munmap(r) => svc.munmap(c, r).map(|()| Reply::Munmap)?,
        Request::Mprotect(r) => svc.mprotect(c, r).map(|()| Reply::Mprotect)?,
        Request::Minherit(r) => svc.minherit(c, r).map(|()| Reply::Minherit)?,
        Request::Madvise(r) => svc.madvise(c, r).map(|()| Reply::Madvise)?,
        Request::Msync(r) => svc.msync(c, r).map(|()| Reply::Msync)?,
        Request::Mincore(r) => Reply::Mincore(svc.mincore(c, r)?),
        Request::Mlock(r) => svc.mlock(c, r).map(|()| Reply::Mlock)?,
        Request::Munlock(r) => svc.munlock(c, r).map(|()| Reply::Munlock)?,
        Request::ShmCreate(r) => Reply::ShmCreate(svc.shm_create(c, r)?),
        Request::ShmOpen(r) => Reply::ShmOpen(svc.shm_open(c, r)?),
        Request::ShmUnlink(r) => svc.shm_unlink(c, r).map(|()| Reply::ShmUnlink)?,
        Request::ShmTruncate(r) => svc.shm_truncate(c, r).map(|()| Reply::ShmTruncate)?,
        Request::HandleClose(r) => svc.handle_close(c, r).map(|()| Reply::HandleClose)?,
        Request::HandleShare(r) => Reply::HandleShare(svc.handle_share(c, r)?),
        Request::HandleAccept(r) => svc.handle_accept(c, r).map(|()| Reply::HandleAccept)?,
        Request::Fork => Reply::Fork(svc.fork(c)?),
        Request::Exit(r) => svc.exit(c, r).map(|()| Reply::Exit)?,
        Request::FailNextPagein => svc.fail_next_pagein(c).map(|()| Reply::FailNextPagein)?,
    })
}

/// One step of the server loop: decodes the request (`label`, `words` =
/// exactly the message's words), calls `svc`, and encodes the reply into
/// `out` (at least [`crate::MAX_WORDS`] long). Returns the reply's label
/// (0 or an [`ApiError`] code) and length. A request that does not decode
/// is answered with its `DecodeError`'s `ApiError` and `svc` is not
/// called. Pure: no IPC, never panics on any input.
pub fn dispatch<S: VmService + ?Sized>(
    svc: &mut S,
    client: u64,
    label: u64,
    words: &[u64],
    out: &mut [u64],
) -> (u64, usize) {
    let result = Request::decode(label, words)
        .map_err(ApiError::from)
        .and_then(|req| serve(svc, client, req));
    Reply::encode_result(&result, out)
}

/// Whether the server sends the reply `dispatch` made for a request
/// labelled `request_label`: always, except for a successful `Exit`.
pub fn needs_reply(request_label: u64, reply_label: u64) -> bool {
    !(request_label == crate::Operation::Exit.label() && reply_label == 0)
}
