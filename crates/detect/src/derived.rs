//! Columns derived from a batch once and read by every rule: what each row's user agent says
//! (family, Lambda runtime, desktop operating system) and each row's source network. A rule
//! that asks for one of them for any row has it computed for the whole batch, once per
//! distinct value (user agents and addresses repeat within a batch), and every other rule
//! reads the same result: no rule keeps its own per-batch memo.

use std::collections::hash_map::Entry;

use crate::agents::{agent_family_of, desktop_os_of, Markers};

/// What a user agent says about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentFacts {
    /// [`agent_family_of`]: short (held inline), so that handing
    /// the facts out of the cache allocates nothing.
    pub family: crate::state::Name,
    /// The agent names the Lambda runtime ([`Markers`]).
    pub lambda: bool,
    /// [`desktop_os`](crate::agents::desktop_os).
    pub desktop_os: Option<&'static str>,
}

impl AgentFacts {
    pub(crate) fn of(ua: Option<&str>) -> Self {
        // One pass over the agent for all three.
        let markers = ua.map(Markers::of).unwrap_or_default();
        Self { family: agent_family_of(ua, markers).into(), lambda: markers.lambda, desktop_os: desktop_os_of(markers) }
    }

    /// [`AgentFacts::of`], remembered across batches on this thread (a stream's user agents
    /// repeat batch after batch; computing the facts costs more than looking them up). At most
    /// [`AGENT_CACHE`] agents are kept; a full cache starts afresh.
    pub(crate) fn cached(ua: Option<&str>) -> Self {
        thread_local! {
            static CACHE: std::cell::RefCell<foldhash::HashMap<Box<str>, AgentFacts>> =
                std::cell::RefCell::new(foldhash::HashMap::default());
        }
        // The caller controls the user agent: one too long to be a real tool's is not kept.
        let Some(ua) = ua.filter(|ua| ua.len() <= AGENT_CACHE_MAX_LEN) else {
            return Self::of(ua);
        };
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if let Some(f) = c.get(ua) {
                return f.clone();
            }
            let f = Self::of(Some(ua));
            if c.len() >= AGENT_CACHE {
                c.clear();
            }
            c.insert(Box::from(ua), f.clone());
            f
        })
    }
}

/// User agents whose [`AgentFacts`] a thread remembers.
pub(crate) const AGENT_CACHE: usize = 16_384;

/// Longest user agent remembered (what the cache holds stays under 8 MiB per thread, whatever
/// the input; the parser's agent cache has the same bound).
pub(crate) const AGENT_CACHE_MAX_LEN: usize = 512;

/// One value per distinct key of a column, and per row the index of its row's value.
#[derive(Debug)]
pub(crate) struct Interned<T> {
    values: Vec<T>,
    of_row: Vec<u32>,
}

impl<T> Interned<T> {
    /// `make(key(row))` for every row of `0..rows`, computed once per distinct key.
    pub(crate) fn build<'a>(
        rows: usize,
        key: impl Fn(usize) -> Option<&'a str>,
        make: impl Fn(Option<&str>) -> T,
    ) -> Self {
        let mut index: foldhash::HashMap<Option<&'a str>, u32> = foldhash::HashMap::default();
        index.reserve(rows.min(4096));
        let mut values = Vec::new();
        let of_row = (0..rows)
            .map(|row| {
                let k = key(row);
                match index.entry(k) {
                    Entry::Occupied(o) => *o.get(),
                    Entry::Vacant(v) => {
                        values.push(make(k));
                        // A batch has far fewer than 2^32 rows.
                        *v.insert((values.len() - 1) as u32)
                    }
                }
            })
            .collect();
        Self { values, of_row }
    }

    /// The value of `row`'s key.
    pub(crate) fn get(&self, row: usize) -> &T {
        &self.values[self.id(row)]
    }

    /// Which distinct key `row` has, `0..len()`.
    pub(crate) fn id(&self, row: usize) -> usize {
        self.of_row[row] as usize
    }

    /// Distinct keys.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_agent_facts_equal_the_computed_ones_past_the_cache_size() {
        let long = format!("aws-cli/2.15.0 {}", "x".repeat(AGENT_CACHE_MAX_LEN));
        let agents = [
            Some("aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22"),
            Some(
                "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.10 lang/python#3.12 exec-env/AWS_Lambda_python3.12",
            ),
            Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"),
            Some("Terraform/1.7.0 (+https://www.terraform.io) terraform-provider-aws/5.31.0"),
            None,
            Some(long.as_str()),
        ];
        for round in 0..AGENT_CACHE + 10 {
            let ua = agents[round % agents.len()];
            assert_eq!(AgentFacts::cached(ua), AgentFacts::of(ua), "{ua:?}");
            // Fill the cache with distinct agents so that it starts afresh.
            let filler = format!("tool-{round}/1.0");
            assert_eq!(AgentFacts::cached(Some(&filler)), AgentFacts::of(Some(&filler)));
        }
    }

    #[test]
    fn interned_values_are_computed_once_per_distinct_key_and_read_per_row() {
        let keys = [Some("a"), None, Some("b"), Some("a"), None, Some("c"), Some("b")];
        let made = std::cell::Cell::new(0);
        let i = Interned::build(
            keys.len(),
            |r| keys[r],
            |k| {
                made.set(made.get() + 1);
                k.map(str::to_uppercase)
            },
        );
        assert_eq!(made.get(), 4);
        assert_eq!(i.len(), 4);
        assert_eq!([i.id(0), i.id(3)], [i.id(3), 0], "the same key, the same id");
        assert_ne!(i.id(2), i.id(5));
        let got: Vec<Option<String>> = (0..keys.len()).map(|r| i.get(r).clone()).collect();
        let want: Vec<Option<String>> = keys.iter().map(|k| k.map(str::to_uppercase)).collect();
        assert_eq!(got, want);
    }
}
