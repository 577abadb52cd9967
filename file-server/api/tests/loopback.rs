//! The client stub end to end over a loopback into `dispatch`: `File` as an `embedded-io` stream (reads and writes split into calls, seeks, end of file, errors) against a service holding one file in memory.

use file_api::embedded_io::{ErrorKind, Read, Seek, SeekFrom, Write};
use file_api::*;

/// One file, `/f`, of 3000 bytes; handles count calls.
struct OneFile {
    data: Vec<u8>,
    open: Vec<Handle>,
    calls: usize,
    largest_read: u64,
}

impl FileService for OneFile {
    fn open(&mut self, _: u64, r: OpenRequest) -> Result<HandleReply, FileError> {
        self.calls += 1;
        if r.path.as_slice() != b"/f" {
            return Err(FileError::NotFound);
        }
        let handle = Handle(self.open.len() as u32 + 1);
        self.open.push(handle);
        Ok(HandleReply { handle })
    }
    fn stat(&mut self, _: u64, _: HandleRequest) -> Result<Stat, FileError> {
        self.calls += 1;
        Ok(Stat {
            kind: FileKind::Regular,
            size: self.data.len() as u64,
            mode: 0o644,
        })
    }
    fn read(&mut self, _: u64, r: ReadRequest) -> Result<ReadReply, FileError> {
        self.calls += 1;
        self.largest_read = self.largest_read.max(r.len);
        let size = self.data.len() as u64;
        if r.offset > size {
            return Err(FileError::PastEnd);
        }
        let end = (r.offset + r.len).min(size);
        Ok(ReadReply {
            data: ReadData::from_slice(&self.data[r.offset as usize..end as usize]).unwrap(),
        })
    }
    fn write(&mut self, _: u64, r: WriteRequest) -> Result<WriteReply, FileError> {
        self.calls += 1;
        let end = r.offset + r.data.len() as u64;
        if end > self.data.len() as u64 {
            return Err(FileError::WouldGrow);
        }
        self.data[r.offset as usize..end as usize].copy_from_slice(r.data.as_slice());
        Ok(WriteReply {
            written: r.data.len() as u64,
        })
    }
    fn close(&mut self, _: u64, r: HandleRequest) -> Result<(), FileError> {
        self.calls += 1;
        let at = self
            .open
            .iter()
            .position(|&h| h == r.handle)
            .ok_or(FileError::BadHandle)?;
        self.open.remove(at);
        Ok(())
    }
    fn sync(&mut self, _: u64, _: HandleRequest) -> Result<(), FileError> {
        self.calls += 1;
        Ok(())
    }
}

fn service() -> OneFile {
    OneFile {
        data: (0..3000u32).map(|i| (i % 251) as u8).collect(),
        open: Vec::new(),
        calls: 0,
        largest_read: 0,
    }
}

#[test]
fn a_file_reads_writes_and_seeks_as_a_stream() {
    let mut svc = service();
    let expect = svc.data.clone();
    {
        let mut client = FileClient::with_transport(Loopback {
            service: &mut svc,
            client: 1,
        });
        let mut f = client.open("/f", Rights::RW).unwrap();
        // read_exact over several calls of at most READ_MAX bytes.
        let mut all = vec![0u8; 3000];
        f.read_exact(&mut all).unwrap();
        assert_eq!(all, expect);
        assert_eq!(f.read(&mut [0u8; 10]).unwrap(), 0, "end of file");
        // Seek and overwrite across the chunk size.
        assert_eq!(f.seek(SeekFrom::Start(100)).unwrap(), 100);
        f.write_all(&[0xee; 2000]).unwrap();
        assert_eq!(f.position(), 2100);
        f.flush().unwrap();
        assert_eq!(f.seek(SeekFrom::End(-10)).unwrap(), 2990);
        assert_eq!(f.seek(SeekFrom::Current(5)).unwrap(), 2995);
        assert_eq!(
            f.seek(SeekFrom::Current(-3000)),
            Err(FileError::InvalidSeek)
        );
        // Past the end: reads fail with PastEnd, writes cannot grow it.
        f.seek(SeekFrom::End(1)).unwrap();
        assert_eq!(f.read(&mut [0u8; 4]), Err(FileError::PastEnd));
        f.seek(SeekFrom::End(-2)).unwrap();
        let e = f.write_all(&[1, 2, 3]).unwrap_err();
        assert_eq!(e, FileError::WouldGrow);
        assert_eq!(embedded_io::Error::kind(&e), ErrorKind::WriteZero);
        assert_eq!(f.stat().unwrap().size, 3000);
        f.close().unwrap();
        assert_eq!(
            client.open("/missing", Rights::READ).err(),
            Some(FileError::NotFound)
        );
        assert_eq!(
            client.open(&"/x".repeat(200), Rights::READ).err(),
            Some(FileError::PathTooLong)
        );
        // Dropping a file closes it.
        let f = client.open("/f", Rights::READ).unwrap();
        drop(f);
    }
    assert!(svc.open.is_empty());
    assert_eq!(svc.largest_read, READ_MAX as u64);
    assert_eq!(&svc.data[100..2100], &[0xee; 2000][..]);
    assert_eq!(&svc.data[..100], &expect[..100]);
    assert_eq!(&svc.data[2100..], &expect[2100..]);
}

/// A transport whose server answers nonsense: the stub reports
/// `MalformedReply`, never panics.
#[test]
fn nonsense_replies_are_malformed() {
    struct Liar(u64, Vec<u64>);
    impl Transport for Liar {
        fn call(&mut self, _: u64, _: &[u64], reply: &mut [u64]) -> (u64, usize) {
            reply[..self.1.len()].copy_from_slice(&self.1);
            (self.0, self.1.len())
        }
    }
    let cases = [
        (0, vec![]),
        (0, vec![1, 2]),
        (0xdead, vec![]),
        (FileError::NotFound.code(), vec![1]),
        (0, vec![2000, 0]),
    ];
    for (label, words) in cases {
        let mut c = FileClient::with_transport(Liar(label, words.clone()));
        assert_eq!(
            c.stat(Handle(1)).err(),
            Some(FileError::MalformedReply),
            "{label:#x} {words:?}"
        );
    }
    // A read reply longer than asked.
    let mut c = FileClient::with_transport(Liar(0, vec![16, 0, 0]));
    let mut f = c.file(Handle(1));
    assert_eq!(f.read(&mut [0u8; 8]), Err(FileError::MalformedReply));
    // Writes must report progress within the chunk.
    let mut c = FileClient::with_transport(Liar(0, vec![0]));
    let mut f = c.file(Handle(1));
    assert_eq!(f.write(&[1]), Err(FileError::MalformedReply));
}
