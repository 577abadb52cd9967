//! The client stub's hand-written part: `FileClient::open`, and `File`, an open file as an `embedded-io` byte stream.
//!
//! `FileClient` itself, its one generic call ([`FileClient::request`])
//! and its methods, one per operation, are generated from the table in
//! `protocol.rs`; the transports are `ipc-protocol`'s. [`File`] splits
//! reads and writes into calls of at most [`READ_MAX`] / [`WRITE_MAX`]
//! bytes.

use crate::error::FileError;
use crate::protocol::FileClient;
use crate::types::{Handle, Rights, Stat, READ_MAX, WRITE_MAX};
use embedded_io::{ErrorType, Read, Seek, SeekFrom, Write};
use ipc_protocol::Transport;

impl<T: Transport> FileClient<T> {
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
