//! Windows of keys for reading a large etcd table page by page, sized from the keys already seen.
//!
//! etcd (3.4 and 3.5) walks every key of a requested range before it cuts the answer to the
//! request's `limit`, to count them. Reading a table of n keys in pages of p keys over the open
//! range "from the last key read to the table's end" so makes etcd walk O(n²/p) keys: at 1M rows
//! (4M keys) etcd spent 18.9 s of CPU serving one export that `etcdctl get` reads with 4.9 s. Each
//! page is therefore asked for over a window `[start, end)` that should hold about one page, so
//! every request walks about one page of keys; the window is sized from the key density of the
//! answers so far (etcd counts each window's keys for free).
//!
//! Keys are placed on a number line by their first 16 bytes after the table prefix (big-endian,
//! zero-padded), which keeps their order; density is keys per unit of that line. An estimate off by
//! any amount costs time, never correctness: a window holding too many keys is read on from its
//! last key, one holding none is followed by a larger one.

/// Bytes after the table prefix that place a key on the number line.
const POSITION_BYTES: usize = 16;
/// Most a window grows from one answer to the next (when an answer held few or no keys).
const MAX_GROWTH: f64 = 2.0;

/// The windows of one table read.
#[derive(Debug, Clone)]
pub struct KeyWindows {
    /// Prefix every key of the table starts with.
    prefix: Vec<u8>,
    /// End of the table's range (exclusive).
    end: Vec<u8>,
    /// Keys a window should hold.
    page: u64,
    /// Keys per unit of the number line, once an answer has shown it.
    density: Option<f64>,
    /// Keys of the table not read yet, once an answer over the open window has counted them.
    left: Option<i64>,
}

impl KeyWindows {
    /// Windows over the table range `[prefix, end)` holding about `page` keys each.
    pub fn new(prefix: &[u8], end: &[u8], page: u64) -> KeyWindows {
        KeyWindows { prefix: prefix.to_vec(), end: end.to_vec(), page, density: None, left: None }
    }

    /// End of the window to read from `start`: the table's end until a density is known, and once
    /// the keys left fit in one page.
    pub fn window_end(&self, start: &[u8]) -> Vec<u8> {
        let Some(density) = self.density else { return self.end.clone() };
        if self.left.is_some_and(|left| left <= self.page as i64) {
            return self.end.clone();
        }
        // A float-to-integer cast saturates, so a tiny density gives the widest window.
        let width = ((self.page as f64 / density) as u128).max(1);
        match self.position(start).checked_add(width) {
            Some(position) if position < u128::MAX => self.key_at(position),
            _ => self.end.clone(),
        }
    }

    /// Learns from the answer to the window `[start, window_end)`: etcd counted `count` keys in it
    /// and returned `returned` of them, `span` being the first and the last.
    pub fn observe(
        &mut self,
        start: &[u8],
        window_end: &[u8],
        count: i64,
        returned: usize,
        span: Option<(&[u8], &[u8])>,
    ) {
        self.left = match self.left {
            _ if window_end == self.end.as_slice() => Some(count - returned as i64),
            left => left.map(|left| left - returned as i64),
        };
        let seen = match span {
            // Read whole, a bounded window: its count over its width.
            _ if window_end != self.end.as_slice() && returned as i64 == count => {
                let width = self.position(window_end).saturating_sub(self.position(start)).max(1);
                Some(count.max(0) as f64 / width as f64)
            }
            // Cut short, or the open window: the keys returned over their span. (The window's count
            // over its width would spread keys bunched at its start over all of it.)
            Some((first, last)) if returned > 1 => {
                let width = self.position(last).saturating_sub(self.position(first)).max(1);
                Some((returned - 1) as f64 / width as f64)
            }
            _ => None,
        };
        self.density = match (seen, self.density) {
            (Some(seen), Some(before)) => Some(seen.max(before / MAX_GROWTH)),
            (Some(seen), None) if seen > 0.0 => Some(seen),
            (Some(_), None) | (None, _) => self.density,
        };
    }

    /// Whether `window_end` is the table's end (a window up to it is the last).
    pub fn is_table_end(&self, window_end: &[u8]) -> bool {
        window_end == self.end.as_slice()
    }

    /// The key's place on the number line (keys outside the table sort as its start).
    fn position(&self, key: &[u8]) -> u128 {
        let rest = key.strip_prefix(self.prefix.as_slice()).unwrap_or_default();
        let mut bytes = [0u8; POSITION_BYTES];
        let used = rest.len().min(POSITION_BYTES);
        bytes[..used].copy_from_slice(&rest[..used]);
        u128::from_be_bytes(bytes)
    }

    /// The smallest key at `position`: above every key of a lower position, and below the table's
    /// end (every key starting with the prefix is).
    fn key_at(&self, position: u128) -> Vec<u8> {
        let mut key = self.prefix.clone();
        key.extend_from_slice(&position.to_be_bytes());
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd_layout::prefix_range_end;

    const PREFIX: &str = "/LINSTOR/LAYER_RESOURCE_IDS/";

    fn windows(page: u64) -> KeyWindows {
        KeyWindows::new(PREFIX.as_bytes(), &prefix_range_end(PREFIX), page)
    }

    /// Keys of LINSTOR's shape: decimal ids (sorted as text), six columns each.
    fn table(ids: u32) -> Vec<Vec<u8>> {
        let columns = ["KIND", "PARENT_ID", "SUFFIX", "SUSPENDED", "NODE_NAME", "RESOURCE_NAME"];
        let mut keys: Vec<Vec<u8>> =
            (1..=ids).flat_map(|id| columns.iter().map(move |c| format!("{PREFIX}{id}/{c}").into_bytes())).collect();
        keys.sort();
        keys
    }

    /// Reads `keys` the way the etcd source does (a first request of `page / 64` keys, then pages),
    /// as etcd would answer; returns the keys read, the number of requests and the keys etcd walked.
    fn read_all(keys: &[Vec<u8>], page: u64) -> (Vec<Vec<u8>>, usize, usize) {
        let mut windows = windows(page);
        let table_end = prefix_range_end(PREFIX);
        let (mut read, mut requests, mut walked) = (Vec::new(), 0, 0);
        let mut start = PREFIX.as_bytes().to_vec();
        let mut limit = (page / 64).max(1) as usize;
        loop {
            let end = windows.window_end(&start);
            assert!(end.as_slice() > start.as_slice(), "a window must not be empty");
            assert!(end <= table_end, "a window must stay inside the table");
            let in_window: Vec<&[u8]> =
                keys.iter().map(Vec::as_slice).filter(|k| *k >= start.as_slice() && *k < end.as_slice()).collect();
            requests += 1;
            walked += in_window.len();
            let returned = &in_window[..in_window.len().min(limit)];
            limit = page as usize;
            let more = in_window.len() > returned.len();
            let span = returned.first().zip(returned.last()).map(|(f, l)| (*f, *l));
            windows.observe(&start, &end, in_window.len() as i64, returned.len(), span);
            read.extend(returned.iter().map(|k| k.to_vec()));
            start = match returned.last() {
                Some(last) if more => [*last, &[0u8][..]].concat(),
                _ if end != table_end => end,
                _ => break,
            };
            assert!(requests < 100_000, "the read must end");
        }
        (read, requests, walked)
    }

    #[test]
    fn every_key_is_read_once_in_order() {
        for (ids, page) in [(0, 100), (1, 100), (10, 100), (5_000, 1_000), (20_000, 4_096)] {
            let keys = table(ids);
            let (read, _, _) = read_all(&keys, page);
            assert_eq!(read, keys, "{ids} rows, pages of {page}");
        }
    }

    #[test]
    fn each_request_walks_about_one_page() {
        let keys = table(50_000); // 300 000 keys
        let page = 4_096;
        let (_, requests, walked) = read_all(&keys, page);
        let pages = keys.len().div_ceil(page as usize);
        // Reading on from the last key to the table's end would walk n²/2p ≈ 37n keys. Windows walk
        // each key about twice (the first request counts the whole table) plus what estimates
        // overshoot at the carries of ids of varying width (3.3n measured).
        assert!(walked < 4 * keys.len(), "walked {walked} keys for {}", keys.len());
        // Empty windows crossing gaps between key groups are most requests (3.9 per page measured).
        assert!(requests < 5 * pages, "{requests} requests for {pages} pages");
    }

    #[test]
    fn uneven_keys_still_end_and_stay_cheap() {
        // A dense cluster in a sparse table: estimates from the sparse part are far off inside it.
        let mut keys: Vec<Vec<u8>> = (0..2_000u32).map(|i| format!("{PREFIX}a{:08}", i * 997).into_bytes()).collect();
        keys.extend((0..100_000u32).map(|i| format!("{PREFIX}m{i:06}").into_bytes()));
        keys.extend((0..2_000u32).map(|i| format!("{PREFIX}z{:08}", i * 997).into_bytes()));
        keys.sort();
        let (read, _, walked) = read_all(&keys, 2_048);
        assert_eq!(read, keys);
        assert!(walked < 4 * keys.len(), "walked {walked} keys for {}", keys.len());
    }

    #[test]
    fn windows_start_open_and_always_advance() {
        let mut w = windows(10);
        let start = format!("{PREFIX}5").into_bytes();
        assert_eq!(w.window_end(&start), prefix_range_end(PREFIX), "no density yet: the open window");
        // A long key: its first 16 bytes after the prefix equal the next window's start.
        let long = format!("{PREFIX}{}", "9".repeat(40)).into_bytes();
        w.density = Some(1e30);
        assert!(w.window_end(&long) > long);
        w.density = Some(1e-40);
        assert_eq!(w.window_end(&start), prefix_range_end(PREFIX), "past the line's end: the table's end");
    }
}
