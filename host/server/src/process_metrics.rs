//! The process's own metrics, as every Prometheus client library exports them
//! (<https://prometheus.io/docs/instrumenting/writing_clientlibs/#process-metrics>):
//! `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
//! `process_open_fds`, `process_max_fds` and `process_start_time_seconds`, read from
//! `/proc/self` (procfs) at each scrape. On other systems there are none.

use prometheus_client::registry::Registry;

/// A registry (without a prefix: the names are `process_*`) holding the process collector.
pub(crate) fn registry() -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Process));
    registry
}

/// Reads `/proc/self` at each scrape.
#[derive(Debug, Clone, Copy)]
struct Process;

#[cfg(target_os = "linux")]
impl prometheus_client::collector::Collector for Process {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> std::fmt::Result {
        use prometheus_client::encoding::EncodeMetric as _;
        use prometheus_client::metrics::MetricType;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;

        let Some(sample) = Sample::read() else {
            return Ok(());
        };
        ConstCounter::new(sample.cpu_seconds).encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            MetricType::Counter,
        )?)?;
        for (name, help, value) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                sample.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                sample.virtual_bytes,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                sample.start_time_seconds,
            ),
        ] {
            ConstGauge::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }
        if let Some(open) = sample.open_fds {
            ConstGauge::new(open).encode(encoder.encode_descriptor(
                "process_open_fds",
                "Number of open file descriptors.",
                None,
                MetricType::Gauge,
            )?)?;
        }
        if let Some(max) = sample.max_fds {
            ConstGauge::new(max).encode(encoder.encode_descriptor(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                None,
                MetricType::Gauge,
            )?)?;
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
impl prometheus_client::collector::Collector for Process {
    fn encode(&self, _: prometheus_client::encoding::DescriptorEncoder<'_>) -> std::fmt::Result {
        Ok(())
    }
}

/// One reading of `/proc/self`.
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    start_time_seconds: f64,
    open_fds: Option<i64>,
    /// The soft limit; none when unlimited.
    max_fds: Option<i64>,
}

#[cfg(target_os = "linux")]
impl Sample {
    /// `/proc/self/stat` (CPU, memory, start), the open descriptors and their limit; `None`
    /// (logged) when the stat cannot be read.
    fn read() -> Option<Self> {
        use procfs::process::{LimitValue, Process};
        // Counts far below 2^52: exact as the float samples Prometheus holds.
        let float = |n: u64| n as f64;
        let me = Process::myself()
            .and_then(|me| Ok((me.stat()?, me)))
            .map_err(|err| tracing::warn!("cannot read /proc/self for the process metrics: {err}"))
            .ok();
        let (stat, me) = me?;
        let ticks = float(procfs::ticks_per_second().max(1));
        let start_time_seconds = procfs::boot_time_secs()
            .map(|boot| float(boot) + float(stat.starttime) / ticks)
            .unwrap_or_default();
        let max_fds = me
            .limits()
            .ok()
            .and_then(|l| match l.max_open_files.soft_limit {
                LimitValue::Value(n) => i64::try_from(n).ok(),
                LimitValue::Unlimited => None,
            });
        Some(Self {
            cpu_seconds: float(stat.utime.saturating_add(stat.stime)) / ticks,
            resident_bytes: float(stat.rss.saturating_mul(procfs::page_size())),
            virtual_bytes: float(stat.vsize),
            start_time_seconds,
            open_fds: me.fd_count().ok().and_then(|n| i64::try_from(n).ok()),
            max_fds,
        })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The values are this process's: the files it holds open are counted, the resident memory
    /// is within the virtual, the process started before now and after the epoch's first year.
    #[test]
    fn a_sample_reads_this_process() {
        let before = Sample::read().unwrap();
        let files: Vec<_> = (0..64)
            .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
            .collect();
        let after = Sample::read().unwrap();
        drop(files);
        assert!(after.open_fds.unwrap() >= 64, "{before:?} -> {after:?}");
        assert!(
            after.max_fds.unwrap() >= after.open_fds.unwrap(),
            "{after:?}"
        );
        assert!(after.resident_bytes > 0.0, "{after:?}");
        assert!(after.virtual_bytes >= after.resident_bytes, "{after:?}");
        assert!(after.cpu_seconds >= before.cpu_seconds, "{after:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            after.start_time_seconds > 31_536_000.0 && after.start_time_seconds <= now + 1.0,
            "{after:?} against {now}"
        );
        assert_eq!(after.start_time_seconds, before.start_time_seconds);
    }
}
