//! Finding the solver, starting it, and running environments on threads.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cedar_policy::RequestEnv;
use cedar_policy_symcc::CedarSymCompiler;
use cedar_policy_symcc::solver::LocalSolver;

use crate::error::Error;
use crate::input::environment_name;

/// The solver's time limit for one query, in milliseconds (cvc5's `--tlimit-per`).
pub const QUERY_TIME_LIMIT_MS: u32 = 60_000;
/// The Debian package that provides the solver.
pub const SOLVER_PACKAGE: &str = "cvc5";

/// How to run an analysis.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Environments (for [`check_removals`](crate::check_removals), controls) proven at once, each
    /// with its own solver process. 0: the available cores.
    pub threads: usize,
    /// The solver binary; `None`: `$CVC5`, else `cvc5` on `PATH`.
    pub solver: Option<PathBuf>,
    /// Prove only the properties with these ids; empty: every property.
    pub only: BTreeSet<String>,
    /// Also check that no forbid is redundant within its control and no permit is shadowed
    /// (a solver query per pair of forbids of a control in each environment).
    pub redundancy: bool,
}

/// The solver binary: `explicit`, else `$CVC5`, else `cvc5` on `PATH`.
pub fn find_solver(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    let wanted = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("CVC5").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("cvc5"));
    let missing = |message: &str| Error::SolverMissing {
        program: wanted.display().to_string(),
        message: message.to_owned(),
    };
    if wanted.components().count() > 1 {
        return if wanted.is_file() {
            Ok(wanted)
        } else {
            Err(missing("no such file"))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(&wanted))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| missing("not found on PATH"))
}

pub(crate) type Symcc = CedarSymCompiler<LocalSolver>;

pub(crate) fn check_error(
    env: &RequestEnv,
    check: &str,
) -> impl Fn(cedar_policy_symcc::err::Error) -> Error {
    let environment = environment_name(env);
    let check = check.to_owned();
    move |e| Error::Check {
        environment: environment.clone(),
        check: check.clone(),
        message: e.to_string(),
    }
}

/// Whether the solver answered `unknown` (its time limit ran out, or the query is outside what it
/// decides): the check is unproven, not failed, and the analysis goes on.
pub(crate) fn is_unknown(error: &cedar_policy_symcc::err::Error) -> bool {
    matches!(error, cedar_policy_symcc::err::Error::SolverUnknown)
}

pub(crate) fn start_solver(solver: &Path) -> Result<Symcc, Error> {
    let mut command = tokio::process::Command::new(solver);
    command
        .args(["--lang", "smt"])
        .arg(format!("--tlimit-per={QUERY_TIME_LIMIT_MS}"))
        .kill_on_drop(true);
    let local = LocalSolver::from_command(&mut command).map_err(|e| Error::SolverMissing {
        program: solver.display().to_string(),
        message: e.to_string(),
    })?;
    CedarSymCompiler::new(local).map_err(|e| Error::SolverMissing {
        program: solver.display().to_string(),
        message: e.to_string(),
    })
}

/// Runs `work` on every item (an environment, a control) over `threads` threads; returns the
/// results in item order.
pub(crate) fn run_parallel<I: Sync, T: Send>(
    envs: &[I],
    threads: usize,
    work: impl Fn(&I) -> Result<T, Error> + Sync,
) -> Result<Vec<T>, Error> {
    let queue: Mutex<VecDeque<usize>> = Mutex::new((0..envs.len()).collect());
    let results: Mutex<BTreeMap<usize, Result<T, Error>>> = Mutex::new(BTreeMap::new());
    let threads = threads.clamp(1, envs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                    let Some(index) = next else { break };
                    let Some(env) = envs.get(index) else { break };
                    let outcome = work(env);
                    let failed = outcome.is_err();
                    if let Ok(mut results) = results.lock() {
                        results.insert(index, outcome);
                    }
                    if failed {
                        // Stop handing out work: the analysis fails anyway.
                        if let Ok(mut q) = queue.lock() {
                            q.clear();
                        }
                    }
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| Error::Thread("a worker thread panicked".to_owned()))?;
    let mut out = Vec::with_capacity(results.len());
    for (_, result) in results {
        out.push(result?);
    }
    if out.len() != envs.len() {
        return Err(Error::Thread(
            "a worker thread stopped before its work was done".to_owned(),
        ));
    }
    Ok(out)
}

pub(crate) fn block_on<T>(
    future: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Thread(format!("cannot start an async runtime: {e}")))?
        .block_on(future)
}

pub(crate) fn thread_count(options: &Options) -> usize {
    if options.threads > 0 {
        options.threads
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}
