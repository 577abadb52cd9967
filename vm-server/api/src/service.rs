//! The server side's hand-written part: `needs_reply`, and the default bodies of the `VmService` methods a server may leave out.
//!
//! The `VmService` trait (one method per operation), `serve` (the call of
//! the method a request names) and `dispatch` (the pure
//! decode-call-encode step of the server loop) are generated from the
//! table in `protocol.rs`.

use crate::client_list::ClientListReply;
use crate::error::ApiError;
use crate::protocol::Operation;
use crate::reply::{HandleReply, PagerChallengeReply, PagerProgramNameReply, PingReply};
use crate::request::{
    ClientListRequest, PagerAttachRequest, PagerCreateRequest, PagerProgramNameRequest,
    PagerProgramRequest, PingRequest, ShmOpenRequest,
};

/// Whether the server sends the reply `dispatch` made for a request
/// labelled `request_label`: always, except for a successful request of
/// an operation that is not answered on success (`Exit`, see
/// [`Operation::replies_on_success`]).
pub fn needs_reply(request_label: u64, reply_label: u64) -> bool {
    ipc_protocol::needs_reply::<Operation>(request_label, reply_label)
}

/// [`VmService::ping`]'s default: echoes the cookie.
///
/// [`VmService::ping`]: crate::VmService::ping
pub(crate) fn echo_ping(_client: u64, req: PingRequest) -> Result<PingReply, ApiError> {
    Ok(PingReply { cookie: req.cookie })
}

/// [`VmService::fail_next_pagein`]'s default: refused, as if the operation
/// did not exist (a server without swap has nothing to fail).
///
/// [`VmService::fail_next_pagein`]: crate::VmService::fail_next_pagein
pub(crate) fn refuse_test_hook(_client: u64) -> Result<(), ApiError> {
    Err(ApiError::UnknownOperation)
}

/// [`VmService::idle_wait`]'s default: a server without an idle thread
/// has no idle work to wait for.
///
/// [`VmService::idle_wait`]: crate::VmService::idle_wait
pub(crate) fn no_idle_thread(_client: u64) -> Result<(), ApiError> {
    Err(ApiError::NotSupported)
}

/// [`VmService::pager_challenge`]'s default: a server without pager
/// channels does not support pagers.
///
/// [`VmService::pager_challenge`]: crate::VmService::pager_challenge
pub(crate) fn no_pagers(_client: u64) -> Result<PagerChallengeReply, ApiError> {
    Err(ApiError::NotSupported)
}

/// [`VmService::pager_attach`]'s default, as [`no_pagers`].
///
/// [`VmService::pager_attach`]: crate::VmService::pager_attach
pub(crate) fn no_pagers_attach(_client: u64, _req: PagerAttachRequest) -> Result<(), ApiError> {
    Err(ApiError::NotSupported)
}

/// [`VmService::pager_create`]'s default, as [`no_pagers`].
///
/// [`VmService::pager_create`]: crate::VmService::pager_create
pub(crate) fn no_pagers_create(
    _client: u64,
    _req: PagerCreateRequest,
) -> Result<HandleReply, ApiError> {
    Err(ApiError::NotSupported)
}

/// [`VmService::pager_program_name`]'s default, as [`no_pagers`].
///
/// [`VmService::pager_program_name`]: crate::VmService::pager_program_name
pub(crate) fn no_pagers_program_name(
    _client: u64,
    _req: PagerProgramNameRequest,
) -> Result<PagerProgramNameReply, ApiError> {
    Err(ApiError::NotSupported)
}

/// [`VmService::pager_program`]'s default, as [`no_pagers`].
///
/// [`VmService::pager_program`]: crate::VmService::pager_program
pub(crate) fn no_pagers_program(_client: u64, _req: PagerProgramRequest) -> Result<(), ApiError> {
    Err(ApiError::NotSupported)
}

/// [`VmService::device_open`]'s default: a server without device regions
/// has none to open, whatever the name.
///
/// [`VmService::device_open`]: crate::VmService::device_open
pub(crate) fn no_devices(_client: u64, _req: ShmOpenRequest) -> Result<HandleReply, ApiError> {
    Err(ApiError::NoSuchName)
}

/// [`VmService::client_list`]'s default: a server that does not list its
/// clients.
///
/// [`VmService::client_list`]: crate::VmService::client_list
pub(crate) fn no_client_list(
    _client: u64,
    _req: ClientListRequest,
) -> Result<ClientListReply, ApiError> {
    Err(ApiError::NotSupported)
}
