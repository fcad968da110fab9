//! Generated data for benchmarks.

/// A log event of about 300 bytes, with nested objects, arrays, escapes and non-ASCII text, different for each
/// `i`: the benchmarks' record.
pub fn event_record(i: u64) -> String {
    format!(
        "{{\"id\":\"evt-{i:010}\",\"ts\":\"2026-11-{:02}T{:02}:{:02}:00Z\",\"level\":\"{}\",\"user\":{{\"id\":{},\"name\":\"Zoë {}\",\"tags\":[\"a\",\"b\"]}},\"message\":\"GET /api/v2/items/{} took {} ms \\\"ok\\\" 日本\",\"http\":{{\"status\":{},\"bytes\":{}}}}}",
        1 + i % 28,
        i % 24,
        i % 60,
        ["info", "warn", "error"][(i % 3) as usize],
        i % 100_003,
        i % 977,
        i % 5000,
        i % 250,
        [200, 404, 500][(i % 3) as usize],
        (i * 37) % 50_000
    )
}
