//! The arrangements Riffle keeps rows in: differential's ordered batches (`ord_neu`), with the
//! rows of each batch stored back to back in one buffer ([`RowVec`]) instead of a `Vec<Row>`.
//!
//! A `Vec<Row>` batch holds one heap allocation per row longer than 23 bytes, and every merge of
//! two batches clones each surviving row into a fresh allocation. A [`RowContainer`] copies the
//! row's bytes onto the end of one buffer, sized exactly for a merge, and hands out `&RowRef`s:
//! cursors, joins and peeks read rows in place. `Row` and `RowRef` compare, order and hash
//! alike, so batches sort and merge exactly as before.
//!
//! Two shapes: [`RowSpine`] (rows as keys, no values: a collection's own arrangement) and
//! [`RowRowSpine`] (key row → value row: indexes and join inputs). Arrange with [`arrange_rows`]
//! and [`arrange_keyed`].

use differential_dataflow::batcher::merge::vec::VecMerger;
use differential_dataflow::batcher::merge::{MergeBatcher, Sealer};
use differential_dataflow::consolidation::Consolidate;
use differential_dataflow::difference::Semigroup;
use differential_dataflow::hashable::Hashable;
use differential_dataflow::lattice::Lattice;
use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::ord_neu::{OrdKeyBatch, OrdKeyBuilder, OrdValBatch, OrdValBuilder};
use differential_dataflow::trace::implementations::spine_fueled::Spine;
use differential_dataflow::trace::implementations::{BatchContainer, OffsetList};
use differential_dataflow::trace::Builder;
use differential_dataflow::{ExchangeData, VecCollection};
use riffle_repr::Diff;
use riffle_repr::{Row, RowRef, RowVec};
use std::collections::VecDeque;
use std::rc::Rc;
use timely::container::{ContainerBuilder, PushInto, SizableContainer};
use timely::dataflow::channels::pact::Exchange;
use timely::progress::Timestamp;

/// The rows of a batch (keys or values), stored back to back (see the module docs).
#[derive(Default)]
pub struct RowContainer(RowVec);

impl RowContainer {
    /// Bytes allocated for the rows (see [`RowVec::heap_size`]).
    pub fn heap_size(&self) -> usize {
        self.0.heap_size()
    }
}

impl BatchContainer for RowContainer {
    type Owned = Row;
    type ReadItem<'a> = &'a RowRef;

    #[inline(always)]
    fn into_owned<'a>(item: &'a RowRef) -> Row {
        item.to_owned()
    }

    #[inline(always)]
    fn push_ref(&mut self, item: &RowRef) {
        self.0.push(item)
    }

    #[inline(always)]
    fn push_own(&mut self, item: &Row) {
        self.0.push(item)
    }

    fn clear(&mut self) {
        self.0.clear()
    }

    /// Room for `size` rows; the bytes grow as rows arrive (a batch's builder knows only how
    /// many rows it will get).
    fn with_capacity(size: usize) -> Self {
        RowContainer(RowVec::with_capacity(size, 0))
    }

    /// Room for both inputs' rows and bytes: a merge's output never reallocates.
    fn merge_capacity(cont1: &Self, cont2: &Self) -> Self {
        RowContainer(RowVec::with_capacity(
            cont1.0.len() + cont2.0.len(),
            cont1.0.byte_len() + cont2.0.byte_len(),
        ))
    }

    #[inline(always)]
    fn reborrow<'b, 'a: 'b>(item: &'a RowRef) -> &'b RowRef {
        item
    }

    #[inline(always)]
    fn index(&self, index: usize) -> &RowRef {
        self.0.get(index)
    }

    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl PushInto<Row> for RowContainer {
    #[inline(always)]
    fn push_into(&mut self, item: Row) {
        self.0.push(&item)
    }
}

impl PushInto<&Row> for RowContainer {
    #[inline(always)]
    fn push_into(&mut self, item: &Row) {
        self.0.push(item)
    }
}

/// Rows as keys with no values.
type RowLayout<T, R> = (RowContainer, Vec<()>, Vec<T>, Vec<R>, OffsetList);
/// Key rows with value rows.
type RowRowLayout<T> = (RowContainer, RowContainer, Vec<T>, Vec<Diff>, OffsetList);
/// Key rows with values of another type (a reduction's results).
type KeyedLayout<V, T> = (RowContainer, Vec<V>, Vec<T>, Vec<Diff>, OffsetList);

type RowUpdates<T, R> = Vec<((Row, ()), T, R)>;
type RowRowUpdates<T> = Vec<((Row, Row), T, Diff)>;

/// A trace of rows (a collection's own arrangement); `R`: the difference type.
pub type RowSpine<T, R = Diff> = Spine<Rc<OrdKeyBatch<RowLayout<T, R>>>>;
/// Builds [`RowSpine`] batches.
type RowBuilder<T, R = Diff> = OrdKeyBuilder<RowLayout<T, R>, RowUpdates<T, R>>;
/// Sorts and consolidates incoming rows into [`RowSpine`] batches.
pub type RowBatcher<T, R = Diff> = MergeBatcher<Chunker<(Row, ()), T, R>, VecMerger<(Row, ()), T, R>, ExactSeal<RowBuilder<T, R>>>;

/// How a record of a stream is stored in a batcher's chunks: a row as a key with no value, a
/// (key, value) pair as itself.
pub trait Record<D> {
    fn record(self) -> D;
}

impl Record<(Row, ())> for Row {
    #[inline(always)]
    fn record(self) -> (Row, ()) {
        (self, ())
    }
}

impl Record<(Row, Row)> for (Row, Row) {
    #[inline(always)]
    fn record(self) -> (Row, Row) {
        self
    }
}

/// Cuts a stream of updates into sorted, consolidated chunks for a batcher. Differential's
/// `ContainerChunker`, with two differences:
/// - it reads records of another type ([`Record`]): arranging a collection's own rows takes its
///   `(row, time, diff)` updates as they are, with no `map` operator copying every update into
///   a `((row, ()), time, diff)` container first;
/// - every chunk is full-size: `ContainerChunker` sizes its pending chunk once per input
///   container, so after a chunk is handed on mid-container the next ones fill (and are sorted
///   and merged) at 4, 8, … updates. Inputs that are not cut at chunk boundaries (a table's
///   writes) made many such chunks.
pub struct Chunker<D, T, R> {
    pending: Vec<(D, T, R)>,
    ready: VecDeque<Vec<(D, T, R)>>,
    empty: Vec<(D, T, R)>,
}

impl<D, T, R> Default for Chunker<D, T, R> {
    fn default() -> Self {
        Chunker {
            pending: Vec::new(),
            ready: VecDeque::new(),
            empty: Vec::new(),
        }
    }
}

impl<D: Ord + Clone + 'static, T: Ord + Clone + 'static, R: Semigroup + Clone + 'static> Chunker<D, T, R> {
    /// Sorts and consolidates the pending updates and makes them a chunk, unless that left half
    /// of them or fewer and more may come (`last` false), as `ContainerChunker` does.
    fn consolidate_pending(&mut self, last: bool) {
        let before = self.pending.len();
        self.pending.consolidate_into(&mut self.empty);
        std::mem::swap(&mut self.pending, &mut self.empty);
        self.empty.clear();
        if self.pending.len() > before / 2 || (last && !self.pending.is_empty()) {
            self.ready.push_back(std::mem::take(&mut self.pending));
        }
    }
}

impl<I, D, T, R> PushInto<&mut Vec<(I, T, R)>> for Chunker<D, T, R>
where
    I: Record<D>,
    D: Ord + Clone + 'static,
    T: Ord + Clone + 'static,
    R: Semigroup + Clone + 'static,
{
    fn push_into(&mut self, container: &mut Vec<(I, T, R)>) {
        for (record, time, diff) in container.drain(..) {
            self.pending.ensure_capacity(&mut None);
            self.pending.push((record.record(), time, diff));
            if self.pending.at_capacity() {
                self.consolidate_pending(false);
            }
        }
    }
}

impl<D: Ord + Clone + 'static, T: Ord + Clone + 'static, R: Semigroup + Clone + 'static> ContainerBuilder for Chunker<D, T, R> {
    type Container = Vec<(D, T, R)>;

    fn extract(&mut self) -> Option<&mut Self::Container> {
        self.empty = self.ready.pop_front()?;
        Some(&mut self.empty)
    }

    fn finish(&mut self) -> Option<&mut Self::Container> {
        if !self.pending.is_empty() {
            self.consolidate_pending(true);
        }
        self.extract()
    }
}

/// A trace of values under key rows (a reduction's output).
type KeyedSpine<V, T> = Spine<Rc<OrdValBatch<KeyedLayout<V, T>>>>;
type KeyedBuilder<V, T> = OrdValBuilder<KeyedLayout<V, T>, Vec<((Row, V), T, Diff)>>;

/// A trace of value rows under key rows (an index, a join input).
pub type RowRowSpine<T> = Spine<Rc<OrdValBatch<RowRowLayout<T>>>>;
/// Sorts and consolidates incoming (key, value) rows into [`RowRowSpine`] batches.
pub type RowRowBatcher<T> =
    MergeBatcher<Chunker<(Row, Row), T, Diff>, VecMerger<(Row, Row), T, Diff>, ExactSeal<OrdValBuilder<RowRowLayout<T>, RowRowUpdates<T>>>>;

/// Seals a batcher's sorted chain into a batch whose row buffers are sized to the chain's rows
/// before they are filled: no buffer grows (copying what it holds) while a batch is built, and
/// none keeps the slack of its last doubling. (Merges size theirs exactly already:
/// `RowContainer::merge_capacity`.)
pub struct ExactSeal<B>(std::marker::PhantomData<B>);

/// What a sorted chain of updates will make: distinct keys, distinct (key, value) pairs,
/// updates, and the bytes of the distinct keys and values.
#[derive(Default)]
struct ChainSizes {
    keys: usize,
    vals: usize,
    upds: usize,
    key_bytes: usize,
    val_bytes: usize,
}

/// Sizes a sorted chain's (key, value) rows (value None: keys only) in one pass. Rows are told
/// apart by their bytes, not decoded: rows equal in value but not in bytes (`numeric` 1.0 and
/// 1.00) count twice, which reserves a little room the builder, which stores them once, leaves
/// unused (differential's own count compares values, decoding every row twice).
fn chain_sizes<'a>(updates: impl Iterator<Item = (&'a Row, Option<&'a Row>)>) -> ChainSizes {
    let mut sizes = ChainSizes::default();
    let mut previous: Option<(&[u8], Option<&[u8]>)> = None;
    for (key, val) in updates {
        let (key, val) = (key.as_bytes(), val.map(|v| v.as_bytes()));
        let new_key = previous.is_none_or(|(k, _)| k != key);
        if new_key {
            sizes.keys += 1;
            sizes.key_bytes += key.len();
        }
        if new_key || previous.is_some_and(|(_, v)| v != val) {
            sizes.vals += 1;
            sizes.val_bytes += val.map_or(0, <[u8]>::len);
        }
        sizes.upds += 1;
        previous = Some((key, val));
    }
    sizes
}

impl<T, R> Sealer<RowUpdates<T, R>> for ExactSeal<RowBuilder<T, R>>
where
    T: Timestamp + Lattice,
    R: Semigroup + Ord + Clone + 'static,
{
    type Output = OrdKeyBatch<RowLayout<T, R>>;

    fn seal(chain: &mut Vec<RowUpdates<T, R>>) -> Option<Self::Output> {
        let sizes = chain_sizes(chain.iter().flatten().map(|((k, ()), _, _)| (k, None)));
        let mut builder = RowBuilder::<T, R>::with_capacity(sizes.keys, sizes.vals, sizes.upds);
        builder.result.keys = RowContainer(RowVec::with_capacity(sizes.keys, sizes.key_bytes));
        for mut chunk in chain.drain(..) {
            builder.push(&mut chunk);
        }
        builder.done()
    }
}

impl<T> Sealer<RowRowUpdates<T>> for ExactSeal<OrdValBuilder<RowRowLayout<T>, RowRowUpdates<T>>>
where
    T: Timestamp + Lattice,
{
    type Output = OrdValBatch<RowRowLayout<T>>;

    fn seal(chain: &mut Vec<RowRowUpdates<T>>) -> Option<Self::Output> {
        let sizes = chain_sizes(chain.iter().flatten().map(|((k, v), _, _)| (k, Some(v))));
        let mut builder = OrdValBuilder::<RowRowLayout<T>, RowRowUpdates<T>>::with_capacity(sizes.keys, sizes.vals, sizes.upds);
        builder.result.keys = RowContainer(RowVec::with_capacity(sizes.keys, sizes.key_bytes));
        builder.result.vals.vals = RowContainer(RowVec::with_capacity(sizes.vals, sizes.val_bytes));
        for mut chunk in chain.drain(..) {
            builder.push(&mut chunk);
        }
        builder.done()
    }
}

/// Arranges rows by themselves (exchanged by the row's hash, as `arrange_by_self` does).
pub fn arrange_rows<'s, T, R>(rows: VecCollection<'s, T, Row, R>, name: &str) -> Arranged<'s, TraceAgent<RowSpine<T, R>>>
where
    T: Timestamp + Lattice + Ord,
    R: ExchangeData + Semigroup,
{
    let exchange = Exchange::new(|(row, _, _): &(Row, T, R)| row.hashed().into());
    arrange_core::<_, _, RowBatcher<T, R>, RowSpine<T, R>>(rows.inner, exchange, name, RowBatcher::new)
}

/// Arranges (key, value) rows by key (exchanged by the key's hash, as `arrange_by_key` does).
pub fn arrange_keyed<'s, T>(pairs: VecCollection<'s, T, (Row, Row), Diff>, name: &str) -> Arranged<'s, TraceAgent<RowRowSpine<T>>>
where
    T: Timestamp + Lattice + Ord,
{
    pairs.arrange_named::<RowRowBatcher<T>, RowRowSpine<T>>(name, RowRowBatcher::new)
}

/// Hands a reduction's output for one key to its batch builder (the key copied once per update).
fn push_keyed<V, T>(builder: &mut Vec<((Row, V), T, Diff)>, key: &RowRef, updates: &mut Vec<(V, T, Diff)>) {
    builder.clear();
    builder.extend(updates.drain(..).map(|(v, t, r)| ((key.to_owned(), v), t, r)));
}

/// Reduces each key's value rows with `logic` (differential's `reduce`, reading the rows in
/// place) and returns the values it produces, without their keys.
pub fn reduce_rows<'s, T, V, L>(pairs: VecCollection<'s, T, (Row, Row), Diff>, name: &str, logic: L) -> VecCollection<'s, T, V, Diff>
where
    T: Timestamp + Lattice + Ord,
    V: ExchangeData,
    L: FnMut(&RowRef, &[(&RowRef, Diff)], &mut Vec<(V, Diff)>) + 'static,
{
    arrange_keyed(pairs, &format!("Arrange: {name}"))
        .reduce_abelian::<_, KeyedBuilder<V, T>, KeyedSpine<V, T>, _, _>(name, logic, push_keyed)
        .as_collection(|_key, value: &V| value.clone())
}

/// Each row once, or `thresh` times for the count it has (differential's `threshold`).
pub fn threshold_rows<'s, T>(
    rows: VecCollection<'s, T, Row, Diff>,
    name: &str,
    mut thresh: impl FnMut(Diff) -> Diff + 'static,
) -> VecCollection<'s, T, Row, Diff>
where
    T: Timestamp + Lattice + Ord,
{
    arrange_rows(rows, &format!("Arrange: {name}"))
        .reduce_abelian::<_, RowBuilder<T>, RowSpine<T>, _, _>(
            name,
            move |_row, count: &[(&(), Diff)], output: &mut Vec<((), Diff)>| output.push(((), thresh(count[0].1))),
            push_keyed,
        )
        .as_collection(|row: &RowRef, _| row.to_owned())
}

/// Each distinct row with its count, a difference of type `R` (differential's `count`).
pub fn count_rows<'s, T, R>(rows: VecCollection<'s, T, Row, R>, name: &str) -> VecCollection<'s, T, (Row, R), Diff>
where
    T: Timestamp + Lattice + Ord,
    R: ExchangeData + Semigroup,
{
    arrange_rows(rows, &format!("Arrange: {name}"))
        .reduce_abelian::<_, KeyedBuilder<R, T>, KeyedSpine<R, T>, _, _>(
            name,
            |_row, count: &[(&(), R)], output: &mut Vec<(R, Diff)>| output.push((count[0].1.clone(), 1)),
            push_keyed,
        )
        .as_collection(|row: &RowRef, count: &R| (row.to_owned(), count.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use differential_dataflow::trace::cursor::{Cursor, Navigable};
    use riffle_repr::Datum;

    fn row(i: i64, text: &str) -> Row {
        Row::new(vec![Datum::Int64(i), Datum::String(text.repeat(i as usize))])
    }

    /// The chunker hands on every update it is given, consolidated and sorted within each
    /// chunk, in full chunks, however many chunks one input container fills.
    #[test]
    fn row_chunks_are_consolidated() {
        let mut chunker = Chunker::<(Row, ()), u64, Diff>::default();
        let mut expected: std::collections::BTreeMap<(Row, u64), Diff> = Default::default();
        for round in 0..3 {
            let mut input: Vec<(Row, u64, Diff)> = (0..1000i64)
                .map(|i| {
                    (
                        row((i * 7919) % 200, "x"),
                        (i % 3) as u64,
                        if (i + round) % 5 == 0 { -1 } else { 1 },
                    )
                })
                .collect();
            for (r, t, d) in &input {
                *expected.entry((r.clone(), *t)).or_default() += d;
            }
            chunker.push_into(&mut input);
            assert!(input.is_empty());
        }
        let mut chunks = Vec::new();
        while let Some(chunk) = chunker.extract() {
            chunks.push(std::mem::take(chunk));
        }
        while let Some(chunk) = chunker.finish() {
            chunks.push(std::mem::take(chunk));
        }
        assert!(chunks.len() > 1, "the input fills more than one chunk");
        // Each chunk but the last was handed on full (more than half left after consolidating),
        // never at a handful of updates.
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert!(sizes[..sizes.len() - 1].iter().all(|n| *n >= 64), "{sizes:?}");
        let mut got: std::collections::BTreeMap<(Row, u64), Diff> = Default::default();
        for chunk in &chunks {
            assert!(
                chunk.windows(2).all(|w| (&w[0].0, &w[0].1) < (&w[1].0, &w[1].1)),
                "sorted, no duplicates"
            );
            for ((r, ()), t, d) in chunk {
                assert_ne!(*d, 0);
                *got.entry((r.clone(), *t)).or_default() += d;
            }
        }
        expected.retain(|_, d| *d != 0);
        got.retain(|_, d| *d != 0);
        assert_eq!(got, expected);
    }

    /// A sealed batch holds its rows in buffers of exactly their size, and reads them back in
    /// order with their updates.
    #[test]
    fn sealed_batches_are_exact() {
        let rows: Vec<Row> = (1..50).map(|i| row(i, "ab")).collect();
        // Two chunks; the first row updated at two times (stored once).
        let mut first: RowUpdates<u64, Diff> = vec![((rows[0].clone(), ()), 1, 1), ((rows[0].clone(), ()), 2, 1)];
        first.extend(rows[1..20].iter().map(|r| ((r.clone(), ()), 1, 1)));
        let second: RowUpdates<u64, Diff> = rows[20..].iter().map(|r| ((r.clone(), ()), 1, 1)).collect();
        let mut chain = vec![first, second];
        let batch = ExactSeal::<RowBuilder<u64, Diff>>::seal(&mut chain).expect("a batch");
        let bytes: usize = rows.iter().map(|r| r.as_bytes().len()).sum();
        assert_eq!(batch.storage.keys.heap_size(), bytes + 4 * rows.len());
        let mut cursor = batch.cursor();
        let mut read = Vec::new();
        while cursor.key_valid(&batch) {
            let mut updates = 0;
            cursor.map_times(&batch, |_, d| updates += *d);
            read.push((cursor.key(&batch).to_owned(), updates));
            cursor.step_key(&batch);
        }
        let expected: Vec<(Row, Diff)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.clone(), if i == 0 { 2 } else { 1 }))
            .collect();
        assert_eq!(read, expected);

        // Key rows with value rows.
        let mut chain: Vec<RowRowUpdates<u64>> = vec![rows.iter().map(|r| ((r.project(&[0]), r.clone()), 1, 1)).collect()];
        let batch = ExactSeal::<OrdValBuilder<RowRowLayout<u64>, RowRowUpdates<u64>>>::seal(&mut chain).expect("a batch");
        let key_bytes: usize = rows.iter().map(|r| r.project(&[0]).as_bytes().len()).sum();
        assert_eq!(batch.storage.keys.heap_size(), key_bytes + 4 * rows.len());
        assert_eq!(batch.storage.vals.vals.heap_size(), bytes + 4 * rows.len());
    }
}
