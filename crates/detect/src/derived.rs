//! Columns derived from a batch once and read by every rule: what each row's user agent says
//! (family, Lambda runtime, desktop operating system) and each row's source network. A rule
//! that asks for one of them for any row has it computed for the whole batch, once per
//! distinct value (user agents and addresses repeat within a batch), and every other rule
//! reads the same result: no rule keeps its own per-batch memo.

use std::collections::hash_map::Entry;

use crate::agents::{agent_family, desktop_os, is_lambda_agent};

/// What a user agent says about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentFacts {
    /// [`agent_family`].
    pub family: String,
    /// [`is_lambda_agent`].
    pub lambda: bool,
    /// [`desktop_os`].
    pub desktop_os: Option<&'static str>,
}

impl AgentFacts {
    pub(crate) fn of(ua: Option<&str>) -> Self {
        Self { family: agent_family(ua), lambda: is_lambda_agent(ua), desktop_os: desktop_os(ua) }
    }
}

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
        &self.values[self.of_row[row] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let got: Vec<Option<String>> = (0..keys.len()).map(|r| i.get(r).clone()).collect();
        let want: Vec<Option<String>> = keys.iter().map(|k| k.map(str::to_uppercase)).collect();
        assert_eq!(got, want);
    }
}
