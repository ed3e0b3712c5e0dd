//! Proofs about yungui's Cedar policy set, for every request, not only the golden cases.
//!
//! The notice's duties are universal statements (*no* unverified tenant is provisioned, data of
//! domestic users *never* goes abroad unassessed, a tenant can *always* take its data out). The
//! policy folder states them as Cedar in `properties/*.cedar` ([`Property`]), and this crate proves
//! them with Cedar's symbolic compiler (`cedar-policy-symcc`) and the SMT solver cvc5, one request
//! environment (principal type, action, resource type) at a time:
//!
//! - a *safety* property holds when every request the policies allow satisfies it
//!   (`implies(policies, property)`);
//! - a *liveness* property holds when every request satisfying it is allowed
//!   (`implies(property, policies)`) and no forbid errors on such a request (yungui's engine denies
//!   on an erroring forbid where Cedar skips it).
//!
//! It also checks the health of the policy set: every forbid can fire somewhere and never errors,
//! and no action is always denied, except for the findings `properties/known.json` accepts with a
//! reason. A failed property comes with the request and entities the solver found, which
//! [`Counterexample::case`] writes as a golden case.
//!
//! [`diff`](diff()) compares two policy sets the same way: per environment, whether one allows
//! something the other does not, with an example request each way.
//!
//! The solver is the `cvc5` binary (`$CVC5`, else `cvc5` on `PATH`; Debian's package `cvc5`). A
//! fresh solver process serves each environment, with a per-query time limit; environments run on
//! parallel threads.

#![deny(missing_docs)]

mod counterexample;
mod diff;
mod error;
mod health;
mod input;
mod prove;
mod report;
mod solver;

pub use counterexample::Counterexample;
pub use diff::{Diff, EnvironmentDiff, diff};
pub use error::Error;
pub use input::{
    Check, Input, KNOWN_FILE, Kind, Known, NOTICE_FILE, PROPERTIES_DIR, Property, environment_name,
};
pub use report::{Finding, PropertyOutcome, Report, analyze, prove};
pub use solver::{Options, QUERY_TIME_LIMIT_MS, SOLVER_PACKAGE, find_solver};
