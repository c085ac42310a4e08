//! Durability layer: the RocksDB log of every table update, and the catalog.
//!
//! Key layout (all integers big-endian, so RocksDB's byte order is numeric order):
//! - `c` + id → catalog entry (opaque bytes owned by the adapter)
//! - `l` + id + ts + seq → a batch of `(Row, Diff)` updates to collection `id` at time `ts`
//! - `o` + id + partition → the next Kafka offset source `id` reads from that partition, written
//!   in the same batch as the records before it (exactly-once ingestion)
//! - `s` + id → the time up to which sink `id` has written every change
//!
//! Every append is one RocksDB write batch written with `sync = true`: when `append`
//! returns, the updates survive `kill -9` and power loss, so the coordinator acknowledges a
//! write only after it.
#![warn(missing_docs)]

use riffle_repr::{Diff, GlobalId, Row, Timestamp};
use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions, DB};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// A storage failure (cloned to answer every write of a group that failed together).
#[derive(Clone, Debug, thiserror::Error)]
pub enum DurableError {
    /// RocksDB reported an error.
    #[error("storage error: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// Stored bytes did not decode.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl DurableError {
    /// Whether the disk is full (RocksDB passes the operating system's message on).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, DurableError::Rocks(e) if e.to_string().contains("No space left on device"))
    }
}

/// The durable store.
pub struct Durable {
    db: DB,
    seq: AtomicU32,
}

/// A key space's tag byte followed by an id, big-endian.
fn keyed(tag: u8, id: GlobalId) -> Vec<u8> {
    let mut k = vec![tag];
    k.extend_from_slice(&id.0.to_be_bytes());
    k
}

fn log_prefix(id: GlobalId) -> Vec<u8> {
    keyed(b'l', id)
}

/// The timestamp in a log key (`l` + id + ts + seq).
fn log_key_ts(key: &[u8]) -> Result<Timestamp, DurableError> {
    key.get(9..17)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| DurableError::Corrupt("short log key".into()))
}

/// The role catalog's key (no other key space is a bare tag).
const ACCESS_KEY: &[u8] = b"a";

fn catalog_key(id: GlobalId) -> Vec<u8> {
    keyed(b'c', id)
}

fn offset_prefix(id: GlobalId) -> Vec<u8> {
    keyed(b'o', id)
}

fn model_prefix(id: GlobalId) -> Vec<u8> {
    keyed(b'm', id)
}

fn model_meta_prefix(id: GlobalId) -> Vec<u8> {
    keyed(b'n', id)
}

fn sink_key(id: GlobalId) -> Vec<u8> {
    keyed(b's', id)
}

/// The value of a log record: a batch of `(Row, Diff)` updates.
///
/// Records are written as [`RECORD_MAGIC`], the format byte [`PACKED`], then per update the
/// row's encoding ([`riffle_repr::RowRef::as_bytes`]) prefixed by its length (u32, little-endian) and followed
/// by the diff (i64, little-endian): a row is stored as the bytes it already is in memory, and
/// read back with one check and one copy. Records of the first format (bincode of
/// `Vec<(Row, Diff)>`, every datum decoded and re-encoded) are still read: they start with their
/// update count as a u64, which is never eight `0xff` bytes.
mod record {
    use super::DurableError;
    use riffle_repr::{Diff, Row};

    /// The first bytes of a record in a format after the first.
    const RECORD_MAGIC: [u8; 8] = [0xff; 8];
    /// The packed-rows format.
    const PACKED: u8 = 1;

    /// An empty record with room for `updates` bytes of updates.
    pub(super) fn start(updates: usize) -> Vec<u8> {
        let mut value = Vec::with_capacity(RECORD_MAGIC.len() + 1 + updates);
        value.extend_from_slice(&RECORD_MAGIC);
        value.push(PACKED);
        value
    }

    /// The bytes `push` appends for `row`.
    pub(super) fn size(row: &Row) -> usize {
        4 + row.as_bytes().len() + 8
    }

    /// Appends one update.
    pub(super) fn push(value: &mut Vec<u8>, row: &Row, diff: Diff) {
        let bytes = row.as_bytes();
        value.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        value.extend_from_slice(bytes);
        value.extend_from_slice(&diff.to_le_bytes());
    }

    /// A record's updates.
    pub(super) fn decode(value: &[u8]) -> Result<Vec<(Row, Diff)>, DurableError> {
        let corrupt = |what: &str| DurableError::Corrupt(format!("log record: {what}"));
        let mut rest = match value.strip_prefix(&RECORD_MAGIC) {
            Some([PACKED, rest @ ..]) => rest,
            Some(_) => return Err(corrupt("unknown format")),
            None => return bincode::deserialize(value).map_err(|e| DurableError::Corrupt(e.to_string())),
        };
        let mut updates = Vec::new();
        while !rest.is_empty() {
            let (len, after) = rest.split_first_chunk::<4>().ok_or_else(|| corrupt("cut inside a length"))?;
            let len = u32::from_le_bytes(*len) as usize;
            if after.len() < len + 8 {
                return Err(corrupt("cut inside an update"));
            }
            let (bytes, after) = after.split_at(len);
            let (diff, after) = after.split_first_chunk::<8>().ok_or_else(|| corrupt("cut inside a diff"))?;
            let row = Row::from_bytes(bytes).map_err(|e| corrupt(&e.to_string()))?;
            updates.push((row, Diff::from_le_bytes(*diff)));
            rest = after;
        }
        Ok(updates)
    }
}

/// What replaying one collection's log produced.
pub struct Replayed {
    /// The collection's contents as of the replay's `history_from` time (consolidated).
    pub rows: Vec<(Row, Diff)>,
    /// The updates after `history_from`, per time, in time order.
    pub tail: Vec<(Timestamp, Vec<(Row, Diff)>)>,
    /// The largest timestamp in the log.
    pub max_ts: Timestamp,
    /// Number of log records read.
    pub records: u64,
}

impl Durable {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, DurableError> {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, dir)?;
        Ok(Durable {
            db,
            seq: AtomicU32::new(0),
        })
    }

    fn sync_opts() -> WriteOptions {
        let mut w = WriteOptions::default();
        w.set_sync(true);
        w
    }

    /// Durably appends updates at `ts`; returns once they are synced to disk.
    pub fn append(&self, ts: Timestamp, updates: &[(GlobalId, Row, Diff)]) -> Result<(), DurableError> {
        self.append_with_offsets(ts, updates, &[])
    }

    /// Durably appends updates at `ts` together with sources' next offsets
    /// `(source, partition, offset)`, in one atomic batch.
    pub fn append_with_offsets(
        &self,
        ts: Timestamp,
        updates: &[(GlobalId, Row, Diff)],
        offsets: &[(GlobalId, i32, i64)],
    ) -> Result<(), DurableError> {
        self.append_group(&[(ts, updates, offsets)])
    }

    /// Durably appends several writes `(ts, updates, offsets)` in one atomic, synced batch
    /// (group commit: one `fsync` for all of them).
    #[allow(clippy::type_complexity)]
    pub fn append_group(&self, writes: &[(Timestamp, &[(GlobalId, Row, Diff)], &[(GlobalId, i32, i64)])]) -> Result<(), DurableError> {
        let mut batch = WriteBatch::default();
        for (ts, updates, offsets) in writes {
            // One record per collection written (a write usually touches one).
            // Each record is sized before it is filled (a 10,000-row COPY makes a record of
            // about a megabyte, which growing by doubling would copy twice over).
            let mut records: Vec<(GlobalId, usize, Vec<u8>)> = Vec::new();
            for (id, row, _) in *updates {
                match records.iter_mut().find(|(r, _, _)| r == id) {
                    Some((_, size, _)) => *size += record::size(row),
                    None => records.push((*id, record::size(row), Vec::new())),
                }
            }
            for (_, size, value) in &mut records {
                *value = record::start(*size);
            }
            for (id, row, diff) in *updates {
                let (_, _, value) = records.iter_mut().find(|(r, _, _)| r == id).expect("sized above");
                record::push(value, row, *diff);
            }
            for (id, _, value) in records {
                let mut key = log_prefix(id);
                key.extend_from_slice(&ts.to_be_bytes());
                key.extend_from_slice(&self.seq.fetch_add(1, Ordering::Relaxed).to_be_bytes());
                batch.put(key, value);
            }
            for (id, partition, offset) in *offsets {
                let mut key = offset_prefix(*id);
                key.extend_from_slice(&partition.to_be_bytes());
                batch.put(key, offset.to_be_bytes());
            }
        }
        self.db.write_opt(batch, &Self::sync_opts())?;
        Ok(())
    }

    /// A source's stored next offset per partition.
    pub fn source_offsets(&self, id: GlobalId) -> Result<Vec<(i32, i64)>, DurableError> {
        let prefix = offset_prefix(id);
        let mut out = Vec::new();
        for item in self.db.iterator(IteratorMode::From(&prefix, Direction::Forward)) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let corrupt = || DurableError::Corrupt("bad offset entry".into());
            let partition = i32::from_be_bytes(key[prefix.len()..].try_into().map_err(|_| corrupt())?);
            let offset = i64::from_be_bytes(value.as_ref().try_into().map_err(|_| corrupt())?);
            out.push((partition, offset));
        }
        Ok(out)
    }

    /// Durably stores version `version` of model `id`: its bytes and creation time.
    pub fn put_model(&self, id: GlobalId, version: u64, created_at: i64, bytes: &[u8]) -> Result<(), DurableError> {
        let mut key = model_prefix(id);
        key.extend_from_slice(&version.to_be_bytes());
        let mut value = created_at.to_be_bytes().to_vec();
        value.extend_from_slice(bytes);
        self.db.put_opt(key, value, &Self::sync_opts())?;
        Ok(())
    }

    /// Stores what is known of version `version` of model `id` (a small JSON document: format,
    /// sha256, whether it is promoted, a training run's metrics), replacing what was there.
    pub fn put_model_meta(&self, id: GlobalId, version: u64, meta: &[u8]) -> Result<(), DurableError> {
        let mut key = model_meta_prefix(id);
        key.extend_from_slice(&version.to_be_bytes());
        self.db.put_opt(key, meta, &Self::sync_opts())?;
        Ok(())
    }

    /// Every stored version's document of model `id`, in version order.
    pub fn model_metas(&self, id: GlobalId) -> Result<Vec<(u64, Vec<u8>)>, DurableError> {
        let prefix = model_meta_prefix(id);
        let mut out = Vec::new();
        for item in self.db.iterator(IteratorMode::From(&prefix, Direction::Forward)) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let version = u64::from_be_bytes(
                key[prefix.len()..]
                    .try_into()
                    .map_err(|_| DurableError::Corrupt("bad model version key".into()))?,
            );
            out.push((version, value.to_vec()));
        }
        Ok(out)
    }

    /// Version `version` of model `id`: (created_at, bytes).
    pub fn model_version(&self, id: GlobalId, version: u64) -> Result<Option<(i64, Vec<u8>)>, DurableError> {
        let mut key = model_prefix(id);
        key.extend_from_slice(&version.to_be_bytes());
        match self.db.get(key)? {
            None => Ok(None),
            Some(v) if v.len() >= 8 => Ok(Some((i64::from_be_bytes(v[..8].try_into().expect("8 bytes")), v[8..].to_vec()))),
            Some(_) => Err(DurableError::Corrupt("bad model entry".into())),
        }
    }

    /// The latest stored version of model `id`: (version, created_at, bytes).
    pub fn latest_model(&self, id: GlobalId) -> Result<Option<(u64, i64, Vec<u8>)>, DurableError> {
        let prefix = model_prefix(id);
        // Versions are big-endian after the prefix: the last one is the newest.
        let mut last = prefix.clone();
        last.extend_from_slice(&u64::MAX.to_be_bytes());
        let Some(item) = self.db.iterator(IteratorMode::From(&last, Direction::Reverse)).next() else {
            return Ok(None);
        };
        let (key, value) = item?;
        if !key.starts_with(&prefix) {
            return Ok(None);
        }
        let corrupt = || DurableError::Corrupt("bad model entry".into());
        let version = u64::from_be_bytes(key[prefix.len()..].try_into().map_err(|_| corrupt())?);
        if value.len() < 8 {
            return Err(corrupt());
        }
        let created_at = i64::from_be_bytes(value[..8].try_into().map_err(|_| corrupt())?);
        Ok(Some((version, created_at, value[8..].to_vec())))
    }

    /// Records that sink `id` has written every change up to `ts`.
    pub fn put_sink_progress(&self, id: GlobalId, ts: Timestamp) -> Result<(), DurableError> {
        self.db.put_opt(sink_key(id), ts.to_be_bytes(), &Self::sync_opts())?;
        Ok(())
    }

    /// The time up to which sink `id` has written every change.
    pub fn sink_progress(&self, id: GlobalId) -> Result<Option<Timestamp>, DurableError> {
        match self.db.get(sink_key(id))? {
            None => Ok(None),
            Some(v) => Ok(Some(u64::from_be_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| DurableError::Corrupt("bad sink progress".into()))?,
            ))),
        }
    }

    /// Reads a collection's log: its contents at `history_from` consolidated, and every
    /// later update at its own time (for sinks that resume from `history_from`).
    pub fn replay(&self, id: GlobalId, history_from: Timestamp, progress: impl FnMut(u64)) -> Result<Replayed, DurableError> {
        let mut tail: std::collections::BTreeMap<Timestamp, Vec<(Row, Diff)>> = Default::default();
        let mut acc: HashMap<Row, Diff> = HashMap::new();
        let mut max_ts = 0;
        let records = self.scan_log(id, progress, |ts, rows| {
            max_ts = max_ts.max(ts);
            if ts > history_from {
                tail.entry(ts).or_default().extend(rows);
            } else {
                for (row, diff) in rows {
                    *acc.entry(row).or_insert(0) += diff;
                }
            }
        })?;
        let rows = acc.into_iter().filter(|(_, d)| *d != 0).collect();
        Ok(Replayed {
            rows,
            tail: tail.into_iter().collect(),
            max_ts,
            records,
        })
    }

    /// The largest timestamp in a collection's log (one seek to the log's last key).
    pub fn log_max_ts(&self, id: GlobalId) -> Result<Option<Timestamp>, DurableError> {
        let prefix = log_prefix(id);
        let mut end = prefix.clone();
        end.extend_from_slice(&[0xff; 13]);
        match self.db.iterator(IteratorMode::From(&end, Direction::Reverse)).next() {
            Some(item) => {
                let (key, _) = item?;
                if key.starts_with(&prefix) {
                    Ok(Some(log_key_ts(&key)?))
                } else {
                    Ok(None)
                }
            }
            None => Ok(None),
        }
    }

    /// Reads a collection's whole log in chunks of about `chunk` updates, unconsolidated and
    /// without their times (the caller loads them as one snapshot): recovery memory stays at
    /// a chunk instead of the whole log. Returns the number of log records read.
    pub fn replay_chunks(
        &self,
        id: GlobalId,
        chunk: usize,
        mut load: impl FnMut(Vec<(Row, Diff)>),
        progress: impl FnMut(u64),
    ) -> Result<u64, DurableError> {
        let mut pending: Vec<(Row, Diff)> = Vec::new();
        let records = self.scan_log(id, progress, |_, rows| {
            pending.extend(rows);
            if pending.len() >= chunk {
                load(std::mem::take(&mut pending));
            }
        })?;
        if !pending.is_empty() {
            load(pending);
        }
        Ok(records)
    }

    /// Calls `f` with each record of a collection's log in key (time) order, reporting
    /// progress every 10,000 records; returns the number of records.
    fn scan_log(
        &self,
        id: GlobalId,
        mut progress: impl FnMut(u64),
        mut f: impl FnMut(Timestamp, Vec<(Row, Diff)>),
    ) -> Result<u64, DurableError> {
        let prefix = log_prefix(id);
        let mut records = 0;
        for item in self.db.iterator(IteratorMode::From(&prefix, Direction::Forward)) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let rows = record::decode(&value)?;
            f(log_key_ts(&key)?, rows);
            records += 1;
            if records % 10_000 == 0 {
                progress(records);
            }
        }
        Ok(records)
    }

    /// Rewrites a collection's log as one snapshot record at `ts` (compaction).
    pub fn compact(&self, id: GlobalId, ts: Timestamp, rows: &[(Row, Diff)]) -> Result<(), DurableError> {
        let prefix = log_prefix(id);
        let mut end = log_prefix(GlobalId(id.0 + 1));
        if id.0 == u64::MAX {
            end = vec![b'm'];
        }
        let mut batch = WriteBatch::default();
        batch.delete_range(&prefix, &end);
        let mut key = prefix;
        key.extend_from_slice(&ts.to_be_bytes());
        key.extend_from_slice(&0u32.to_be_bytes());
        let mut value = record::start(rows.iter().map(|(row, _)| record::size(row)).sum());
        for (row, diff) in rows {
            record::push(&mut value, row, *diff);
        }
        batch.put(key, value);
        self.db.write_opt(batch, &Self::sync_opts())?;
        Ok(())
    }

    /// Durably records a catalog entry.
    pub fn put_catalog(&self, id: GlobalId, entry: &[u8]) -> Result<(), DurableError> {
        self.db.put_opt(catalog_key(id), entry, &Self::sync_opts())?;
        Ok(())
    }

    /// Durably records the role catalog (roles, their verifiers, object privileges), stored
    /// whole under one key.
    pub fn put_access(&self, bytes: &[u8]) -> Result<(), DurableError> {
        self.db.put_opt(ACCESS_KEY, bytes, &Self::sync_opts())?;
        Ok(())
    }

    /// The role catalog, if one was stored.
    pub fn access(&self) -> Result<Option<Vec<u8>>, DurableError> {
        Ok(self.db.get(ACCESS_KEY)?)
    }

    /// Durably removes catalog entries and their logs, in one batch.
    pub fn drop_items(&self, ids: &[GlobalId]) -> Result<(), DurableError> {
        let mut batch = WriteBatch::default();
        for id in ids {
            batch.delete(catalog_key(*id));
            batch.delete(sink_key(*id));
            batch.delete_range(log_prefix(*id), log_prefix(GlobalId(id.0 + 1)));
            batch.delete_range(offset_prefix(*id), offset_prefix(GlobalId(id.0 + 1)));
            batch.delete_range(model_prefix(*id), model_prefix(GlobalId(id.0 + 1)));
            batch.delete_range(model_meta_prefix(*id), model_meta_prefix(GlobalId(id.0 + 1)));
        }
        self.db.write_opt(batch, &Self::sync_opts())?;
        Ok(())
    }

    /// Every catalog entry, in id order.
    pub fn load_catalog(&self) -> Result<Vec<(GlobalId, Vec<u8>)>, DurableError> {
        let mut out = Vec::new();
        for item in self.db.iterator(IteratorMode::From(b"c", Direction::Forward)) {
            let (key, value) = item?;
            if key.first() != Some(&b'c') {
                break;
            }
            let id = u64::from_be_bytes(
                key[1..9]
                    .try_into()
                    .map_err(|_| DurableError::Corrupt("short catalog key".into()))?,
            );
            out.push((GlobalId(id), value.to_vec()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_repr::Datum;

    #[test]
    fn append_replay_and_drop() {
        let dir = tempfile::tempdir().unwrap();
        let row = |v: i32| Row::new(vec![Datum::Int32(v)]);
        {
            let d = Durable::open(dir.path()).unwrap();
            d.append(5, &[(GlobalId(1), row(1), 1), (GlobalId(1), row(2), 1), (GlobalId(2), row(9), 1)])
                .unwrap();
            d.append(7, &[(GlobalId(1), row(1), -1)]).unwrap();
            d.put_catalog(GlobalId(1), b"t").unwrap();
        }
        let d = Durable::open(dir.path()).unwrap();
        let r = d.replay(GlobalId(1), u64::MAX, |_| {}).unwrap();
        assert_eq!(r.rows, vec![(row(2), 1)]);
        assert_eq!(r.max_ts, 7);
        assert_eq!(d.load_catalog().unwrap(), vec![(GlobalId(1), b"t".to_vec())]);
        d.drop_items(&[GlobalId(1)]).unwrap();
        assert!(d.replay(GlobalId(1), u64::MAX, |_| {}).unwrap().rows.is_empty());
        assert_eq!(d.replay(GlobalId(2), u64::MAX, |_| {}).unwrap().rows.len(), 1);
    }

    #[test]
    fn offsets_ride_with_the_batch_and_history_splits() {
        let dir = tempfile::tempdir().unwrap();
        let row = |v: i32| Row::new(vec![Datum::Int32(v)]);
        let d = Durable::open(dir.path()).unwrap();
        d.append_with_offsets(5, &[(GlobalId(3), row(1), 1)], &[(GlobalId(3), 0, 10), (GlobalId(3), 1, 4)])
            .unwrap();
        d.append_with_offsets(9, &[(GlobalId(3), row(2), 1)], &[(GlobalId(3), 0, 11)])
            .unwrap();
        assert_eq!(d.source_offsets(GlobalId(3)).unwrap(), vec![(0, 11), (1, 4)]);
        let r = d.replay(GlobalId(3), 5, |_| {}).unwrap();
        assert_eq!(r.rows, vec![(row(1), 1)]);
        assert_eq!(r.tail, vec![(9, vec![(row(2), 1)])]);
        d.put_sink_progress(GlobalId(4), 77).unwrap();
        assert_eq!(d.sink_progress(GlobalId(4)).unwrap(), Some(77));
        d.drop_items(&[GlobalId(3), GlobalId(4)]).unwrap();
        assert!(d.source_offsets(GlobalId(3)).unwrap().is_empty());
        assert_eq!(d.sink_progress(GlobalId(4)).unwrap(), None);
    }

    /// A log written before the packed-row records (bincode of `Vec<(Row, Diff)>`) reads back
    /// beside new records; a damaged record is an error, not a panic.
    #[test]
    fn reads_first_format_records_and_refuses_damaged_ones() {
        let dir = tempfile::tempdir().unwrap();
        let d = Durable::open(dir.path()).unwrap();
        let text = Row::new(vec![Datum::String("old".into()), Datum::Int64(-300)]);
        let mut key = log_prefix(GlobalId(5));
        key.extend_from_slice(&3u64.to_be_bytes());
        key.extend_from_slice(&0u32.to_be_bytes());
        d.db.put(&key, bincode::serialize(&vec![(&text, 2i64)]).unwrap()).unwrap();
        let new = Row::new(vec![Datum::String("new".into()), Datum::Null]);
        d.append(4, &[(GlobalId(5), new.clone(), 1), (GlobalId(5), text.clone(), -1)])
            .unwrap();
        let mut r = d.replay(GlobalId(5), u64::MAX, |_| {}).unwrap().rows;
        r.sort();
        assert_eq!(r, vec![(new.clone(), 1), (text, 1)]);
        // Cut the new record short, then flip its string's bytes to invalid UTF-8.
        let mut newer = log_prefix(GlobalId(5));
        newer.extend_from_slice(&9u64.to_be_bytes());
        newer.extend_from_slice(&0u32.to_be_bytes());
        let mut value = record::start(record::size(&new));
        record::push(&mut value, &new, 1);
        d.db.put(&newer, &value[..value.len() - 3]).unwrap();
        assert!(matches!(d.replay(GlobalId(5), u64::MAX, |_| {}), Err(DurableError::Corrupt(_))));
        let at = value.len() - 8 - 3;
        value[at] = 0xff;
        d.db.put(&newer, &value).unwrap();
        assert!(matches!(d.replay(GlobalId(5), u64::MAX, |_| {}), Err(DurableError::Corrupt(_))));
    }
}
