//! [`Touched`]: the keys a batch changed, each once, handed back sorted, so that what a rule
//! publishes after a batch does not depend on arrival order or on hashing.

use foldhash::{HashSet, HashSetExt};

/// Keys (borrowed from the batch) whose state a rule changed while reading a batch.
#[derive(Debug)]
pub(crate) struct Touched<'a> {
    last: Option<&'a str>,
    keys: HashSet<&'a str>,
}

impl<'a> Touched<'a> {
    /// An empty set.
    pub(crate) fn new() -> Self {
        Self { last: None, keys: HashSet::new() }
    }

    /// Notes `key`; a run of rows of one key costs one comparison each.
    pub(crate) fn add(&mut self, key: &'a str) {
        if self.last != Some(key) {
            self.last = Some(key);
            self.keys.insert(key);
        }
    }

    /// Every key noted, once each, in ascending order.
    pub(crate) fn sorted(self) -> Vec<&'a str> {
        let mut keys: Vec<&'a str> = self.keys.into_iter().collect();
        keys.sort_unstable();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_once_in_order() {
        let mut t = Touched::new();
        for k in ["b", "b", "a", "c", "b", "a"] {
            t.add(k);
        }
        assert_eq!(t.sorted(), vec!["a", "b", "c"]);
        assert!(Touched::new().sorted().is_empty());
    }
}
