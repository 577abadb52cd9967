//! The client stub: `FileClient` over a `Transport` (seL4 `Call` in the system, a loopback into `dispatch` in host tests), and `File`, an open file as an `embedded-io` byte stream.
//!
//! The stub's methods, one per operation, are generated from the table in
//! `protocol.rs`; this file holds the transports, the one generic call
//! they all make ([`FileClient::request`]) and [`File`], which splits
//! reads and writes into calls of at most [`READ_MAX`] / [`WRITE_MAX`]
//! bytes.

use crate::error::FileError;
use crate::protocol::{FileService, Reply, Request};
use crate::service::dispatch;
use crate::types::{Handle, Rights, Stat, READ_MAX, WRITE_MAX};
use crate::wire::MAX_WORDS;
use embedded_io::{ErrorType, Read, Seek, SeekFrom, Write};

/// A request-reply channel to the file server.
pub trait Transport {
    /// Sends the request (`label`, `words`) and waits for the reply; the
    /// reply's words are written to `reply` (of [`MAX_WORDS`]), and its
    /// label and length (at most `reply.len()`) are returned.
    fn call(&mut self, label: u64, words: &[u64], reply: &mut [u64]) -> (u64, usize);
}

/// The system transport: `seL4_Call` on an endpoint capability, with the
/// message in the calling thread's IPC buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sel4Transport {
    pub endpoint: sel4::CPtr,
}

impl Transport for Sel4Transport {
    fn call(&mut self, label: u64, words: &[u64], reply: &mut [u64]) -> (u64, usize) {
        let n = words.len().min(MAX_WORDS);
        sel4::with_ipc_buffer_mut(|b| b.msg[..n].copy_from_slice(&words[..n]));
        let info = sel4::call(self.endpoint, sel4::MessageInfo::new(label, 0, 0, n as u64));
        let len = (info.length() as usize).min(MAX_WORDS).min(reply.len());
        sel4::with_ipc_buffer_mut(|b| reply[..len].copy_from_slice(&b.msg[..len]));
        (info.label(), len)
    }
}

/// A transport that runs [`dispatch`] on a service in the same program,
/// as client `client` (host tests).
pub struct Loopback<'a, S: FileService + ?Sized> {
    pub service: &'a mut S,
    pub client: u64,
}

impl<S: FileService + ?Sized> Transport for Loopback<'_, S> {
    fn call(&mut self, label: u64, words: &[u64], reply: &mut [u64]) -> (u64, usize) {
        dispatch(self.service, self.client, label, words, reply)
    }
}

/// The file server's client stub: one method per operation (generated
/// from the table in [`crate::protocol`]), one call each, and
/// [`open`](Self::open) for a [`File`].
#[derive(Clone, Copy, Debug)]
pub struct FileClient<T: Transport = Sel4Transport> {
    pub transport: T,
}

impl FileClient<Sel4Transport> {
    /// A client calling the server through `endpoint`.
    pub const fn new(endpoint: sel4::CPtr) -> Self {
        FileClient {
            transport: Sel4Transport { endpoint },
        }
    }
}

impl<T: Transport> FileClient<T> {
    /// A client over any transport.
    pub const fn with_transport(transport: T) -> Self {
        FileClient { transport }
    }

    /// Sends `req` and decodes the reply; a reply that does not decode, or
    /// that answers another operation, is `MalformedReply`.
    pub fn request(&mut self, req: &Request) -> Result<Reply, FileError> {
        let mut msg = [0u64; MAX_WORDS];
        let (label, len) = req.encode(&mut msg);
        let mut reply = [0u64; MAX_WORDS];
        let (rlabel, rlen) = self.transport.call(label, &msg[..len], &mut reply);
        let words = reply.get(..rlen).ok_or(FileError::MalformedReply)?;
        Reply::decode(req.operation(), rlabel, words).map_err(|_| FileError::MalformedReply)?
    }

    /// Opens `path` with `rights` as a [`File`] at position 0.
    pub fn open(&mut self, path: &str, rights: Rights) -> Result<File<'_, T>, FileError> {
        let handle = self.open_handle(path, rights)?;
        Ok(self.file(handle))
    }

    /// A [`File`] at position 0 over `handle` (from
    /// [`open_handle`](Self::open_handle)), which it closes when dropped.
    pub fn file(&mut self, handle: Handle) -> File<'_, T> {
        File {
            client: self,
            handle,
            position: 0,
            open: true,
        }
    }
}

/// An open file: a handle and a position, read, written and moved
/// through `embedded-io`'s [`Read`], [`Write`] and [`Seek`]. Each `read`
/// or `write` is one call of at most [`READ_MAX`] / [`WRITE_MAX`] bytes
/// (`read_exact` and `write_all` loop). Closed by [`close`](Self::close)
/// or, ignoring the answer, on drop.
pub struct File<'c, T: Transport> {
    client: &'c mut FileClient<T>,
    handle: Handle,
    position: u64,
    open: bool,
}

impl<T: Transport> File<'_, T> {
    /// Its handle (for the stub's own methods).
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// The position the next read or write starts at.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Kind, size and permission bits.
    pub fn stat(&mut self) -> Result<Stat, FileError> {
        self.client.stat(self.handle)
    }

    /// Closes the handle and says whether the server agreed.
    pub fn close(mut self) -> Result<(), FileError> {
        self.open = false;
        self.client.close(self.handle)
    }
}

impl<T: Transport> Drop for File<'_, T> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.client.close(self.handle);
        }
    }
}

impl<T: Transport> ErrorType for File<'_, T> {
    type Error = FileError;
}

impl<T: Transport> Read for File<'_, T> {
    /// One `Read` call of at most [`READ_MAX`] bytes; `Ok(0)` at the end
    /// of the file (and for an empty `buf`).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, FileError> {
        let want = buf.len().min(READ_MAX);
        if want == 0 {
            return Ok(0);
        }
        let r = self
            .client
            .read_at(self.handle, self.position, want as u64)?;
        let got = r.data.as_slice();
        if got.len() > want {
            return Err(FileError::MalformedReply);
        }
        buf[..got.len()].copy_from_slice(got);
        self.position += got.len() as u64;
        Ok(got.len())
    }
}

impl<T: Transport> Write for File<'_, T> {
    /// One `Write` call of at most [`WRITE_MAX`] bytes, written in place;
    /// a write past the end of the file fails (`WouldGrow`).
    fn write(&mut self, buf: &[u8]) -> Result<usize, FileError> {
        let n = buf.len().min(WRITE_MAX);
        if n == 0 {
            return Ok(0);
        }
        let written = self
            .client
            .write_at(self.handle, self.position, &buf[..n])?;
        if written == 0 || written > n as u64 {
            return Err(FileError::MalformedReply);
        }
        self.position += written;
        Ok(written as usize)
    }

    /// `Sync`: returns when the written bytes are on the disk.
    fn flush(&mut self) -> Result<(), FileError> {
        self.client.sync(self.handle)
    }
}

impl<T: Transport> Seek for File<'_, T> {
    /// Moves the position (`End` asks the server for the size). A
    /// position before the start or past `u64::MAX` is `InvalidSeek`; one
    /// past the end is allowed (a read there is `PastEnd`, a write
    /// `WouldGrow`).
    fn seek(&mut self, pos: SeekFrom) -> Result<u64, FileError> {
        let (base, delta) = match pos {
            SeekFrom::Start(p) => (p, 0),
            SeekFrom::End(d) => (self.stat()?.size, d),
            SeekFrom::Current(d) => (self.position, d),
        };
        self.position = base
            .checked_add_signed(delta)
            .ok_or(FileError::InvalidSeek)?;
        Ok(self.position)
    }
}
