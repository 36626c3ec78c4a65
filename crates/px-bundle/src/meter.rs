//! Counting readers around the zstd (or gzip) decoder: compressed bytes read below it,
//! decompressed bytes produced above it, so bombs are stopped while streaming.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

use crate::{BundleError, Format, Limits};

/// Below this many decompressed bytes the ratio is not checked: tiny bundles
/// (mostly tar headers and padding) compress far better than any real bomb needs.
pub const RATIO_GRACE_BYTES: u64 = 1 << 20;

/// Tar stream bytes allowed per entry beyond file contents (header, padding,
/// long names).
const OVERHEAD_PER_ENTRY: u64 = 3 * 512;

/// Which limit the stream broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    Ratio,
    Total,
}

/// Shared counters of one unpack.
#[derive(Debug)]
pub(crate) struct Meter {
    compressed: Cell<u64>,
    decompressed: Cell<u64>,
    input_ended: Cell<bool>,
    tripped: Cell<Option<Trip>>,
    max_ratio: u64,
    max_total: u64,
    max_stream: u64,
    format: Format,
}

impl Meter {
    pub(crate) fn new(limits: &Limits, format: Format) -> Rc<Meter> {
        let overhead = limits
            .max_entries
            .saturating_mul(OVERHEAD_PER_ENTRY)
            .saturating_add(RATIO_GRACE_BYTES);
        Rc::new(Meter {
            compressed: Cell::new(0),
            decompressed: Cell::new(0),
            input_ended: Cell::new(false),
            tripped: Cell::new(None),
            max_ratio: limits.max_ratio,
            max_total: limits.max_total_bytes,
            max_stream: limits.max_total_bytes.saturating_add(overhead),
            format,
        })
    }

    /// Turns an error seen while reading the archive into the typed refusal.
    pub(crate) fn classify(&self, err: io::Error) -> BundleError {
        match self.tripped.get() {
            Some(Trip::Ratio) => BundleError::RatioExceeded {
                limit: self.max_ratio,
            },
            Some(Trip::Total) => BundleError::TotalTooLarge {
                limit: self.max_total,
            },
            None if err.kind() == io::ErrorKind::UnexpectedEof || self.input_ended.get() => {
                BundleError::Truncated
            }
            None => match self.format {
                Format::Pxp => BundleError::Malformed { source: err },
                Format::Package => BundleError::MalformedPackage { source: err },
            },
        }
    }

    fn trip(&self, trip: Trip) -> io::Error {
        self.tripped.set(Some(trip));
        io::Error::other("bundle limit exceeded")
    }
}

/// Counts compressed bytes (sits under the decoder).
#[derive(Debug)]
pub(crate) struct CountIn<R> {
    inner: R,
    meter: Rc<Meter>,
}

impl<R> CountIn<R> {
    pub(crate) fn new(inner: R, meter: Rc<Meter>) -> Self {
        CountIn { inner, meter }
    }
}

impl<R: Read> Read for CountIn<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.meter.input_ended.set(true);
        }
        self.meter
            .compressed
            .set(self.meter.compressed.get() + n as u64);
        Ok(n)
    }
}

/// Counts decompressed bytes (sits over the decoder) and fails the read once
/// the ratio or the stream size limit is broken.
#[derive(Debug)]
pub(crate) struct Guard<R> {
    inner: R,
    meter: Rc<Meter>,
}

impl<R> Guard<R> {
    pub(crate) fn new(inner: R, meter: Rc<Meter>) -> Self {
        Guard { inner, meter }
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let meter = &self.meter;
        if let Some(trip) = meter.tripped.get() {
            return Err(meter.trip(trip));
        }
        let n = self.inner.read(buf)?;
        let out = meter.decompressed.get() + n as u64;
        meter.decompressed.set(out);
        if out > meter.max_stream {
            return Err(meter.trip(Trip::Total));
        }
        if out > RATIO_GRACE_BYTES && out > meter.max_ratio.saturating_mul(meter.compressed.get()) {
            return Err(meter.trip(Trip::Ratio));
        }
        Ok(n)
    }
}
