//! A multiset of table schemas. Thousands of shards of one table mostly share a handful of
//! schemas, so a lock keeps each distinct schema once with a count: joins and comparisons run
//! over the distinct schemas, not over every table.

use std::sync::Arc;

use crate::shardddl::schema::{JoinConflict, Table, join};

#[derive(Debug, Clone, Default)]
pub struct Bag {
    items: Vec<(Arc<Table>, usize)>,
}

impl Bag {
    /// The equal schema already in the bag, or `t` itself; counts one more.
    pub fn add(&mut self, t: Arc<Table>) -> Arc<Table> {
        if let Some((have, n)) = self.items.iter_mut().find(|(have, _)| Arc::ptr_eq(have, &t) || **have == *t) {
            *n += 1;
            return have.clone();
        }
        self.items.push((t.clone(), 1));
        t
    }

    /// Counts one less of `t` (which must have come from `add`).
    pub fn remove(&mut self, t: &Arc<Table>) {
        if let Some(i) = self.items.iter().position(|(have, _)| Arc::ptr_eq(have, t) || **have == **t) {
            self.items[i].1 -= 1;
            if self.items[i].1 == 0 {
                self.items.swap_remove(i);
            }
        }
    }

    /// The distinct schemas.
    pub fn distinct(&self) -> impl Iterator<Item = &Arc<Table>> {
        self.items.iter().map(|(t, _)| t)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The join of every schema in the bag (None if empty).
    pub fn join(&self) -> Option<Result<Table, JoinConflict>> {
        let mut it = self.distinct();
        let first = (**it.next()?).clone();
        Some(it.try_fold(first, |acc, t| join(&acc, t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shardddl::schema::parse_create_table;

    fn t(sql: &str) -> Arc<Table> {
        Arc::new(parse_create_table(sql).unwrap())
    }

    #[test]
    fn t10_equal_schemas_share_one_entry() {
        let mut b = Bag::default();
        let a1 = b.add(t("CREATE TABLE a (id INT)"));
        let a2 = b.add(t("CREATE TABLE a (id INT)"));
        assert!(Arc::ptr_eq(&a1, &a2));
        let c = b.add(t("CREATE TABLE a (id INT, c INT)"));
        assert_eq!(b.distinct().count(), 2);
        assert_eq!(b.join().unwrap().unwrap().columns.len(), 2);
        b.remove(&c);
        b.remove(&a1);
        assert_eq!(b.distinct().count(), 1);
        b.remove(&a2);
        assert!(b.is_empty() && b.join().is_none());
    }
}
