//! The kernel-side walls around a Python child: a Landlock ruleset (the interpreter's own
//! files read-only, its working directory writable, nothing else — not weir's config,
//! database, data directory or `/proc`), an allowlist seccomp filter (no sockets, no
//! `io_uring`, no `fork`: threads only, no `ptrace`, `kill`, `chmod` or `mount`), and the
//! capabilities dropped, so that a root-run weir does not hand root to user code.
//!
//! Everything that allocates is built in the parent; the child (between `fork` and
//! `exec`) only makes system calls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope, ABI,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// The newest Landlock ABI weir asks for (older kernels get what they support, at least v1).
const LANDLOCK_ABI: ABI = ABI::V6;

/// System directories the interpreter and its shared libraries live in (read-only).
const SYSTEM_DIRS: [&str; 6] = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"];
/// Single files the dynamic loader and the `time` module read.
const SYSTEM_FILES: [&str; 3] = ["/etc/ld.so.cache", "/etc/localtime", "/dev/urandom"];
/// ELF program interpreters (the dynamic loader must be executable, nothing else).
const ELF_INTERPRETERS: [&str; 4] = [
    "/lib64/ld-linux-x86-64.so.2",
    "/lib/ld-linux-aarch64.so.1",
    "/lib/ld-musl-x86_64.so.1",
    "/lib/ld-musl-aarch64.so.1",
];

/// Whether this kernel can isolate a child: Landlock (any ABI) and seccomp filters.
pub fn kernel_support() -> Result<(), String> {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(|r| r.create())
        .map_err(|e| format!("Landlock is not available ({e})"))?;
    // SAFETY: a read-only prctl.
    if unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } < 0 {
        return Err("seccomp filters are not available".into());
    }
    Ok(())
}

/// A Landlock ruleset for one run: `read_roots` (and the system directories) readable,
/// `executable` and the dynamic loader executable, `workdir` writable.
pub fn ruleset(
    executable: &Path,
    read_roots: &[PathBuf],
    workdir: &Path,
) -> Result<RulesetCreated, String> {
    let abi = LANDLOCK_ABI;
    let read_dir = AccessFs::ReadFile | AccessFs::ReadDir;
    let read_file: BitFlags<AccessFs> = AccessFs::ReadFile.into();
    let exec_file = AccessFs::ReadFile | AccessFs::Execute;
    let scratch = AccessFs::from_all(abi)
        & !(AccessFs::Execute
            | AccessFs::MakeSym
            | AccessFs::MakeSock
            | AccessFs::MakeFifo
            | AccessFs::MakeChar
            | AccessFs::MakeBlock
            | AccessFs::Refer
            | AccessFs::IoctlDev);
    let mut rules: Vec<(PathBuf, BitFlags<AccessFs>)> = Vec::new();
    let dirs = SYSTEM_DIRS
        .iter()
        .map(PathBuf::from)
        .chain(read_roots.iter().cloned());
    for dir in dirs.filter(|d| d.is_dir() && d.parent().is_some()) {
        rules.push((dir, read_dir));
    }
    for file in SYSTEM_FILES
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
    {
        rules.push((file, read_file));
    }
    rules.push(("/dev/null".into(), AccessFs::ReadFile | AccessFs::WriteFile));
    for file in ELF_INTERPRETERS
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
    {
        rules.push((file, exec_file));
    }
    rules.push((executable.to_owned(), exec_file));
    rules.push((workdir.to_owned(), scratch));

    let err = |e: landlock::RulesetError| format!("cannot build the Landlock ruleset: {e}");
    let mut created = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?
        .handle_access(AccessNet::from_all(abi))
        .map_err(err)?
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(err)?
        .create()
        .map_err(err)?;
    for (path, access) in rules {
        let fd = PathFd::new(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .map_err(err)?;
    }
    Ok(created)
}

/// System calls CPython needs, on every architecture.
const ALLOWED: &[libc::c_long] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_openat,
    libc::SYS_close,
    libc::SYS_close_range,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_statfs,
    libc::SYS_fstatfs,
    libc::SYS_lseek,
    libc::SYS_mmap,
    libc::SYS_mprotect,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_brk,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_ioctl,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_fcntl,
    libc::SYS_flock,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_ftruncate,
    libc::SYS_fadvise64,
    libc::SYS_getcwd,
    libc::SYS_chdir,
    libc::SYS_fchdir,
    libc::SYS_getdents64,
    libc::SYS_readlinkat,
    libc::SYS_mkdirat,
    libc::SYS_unlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_sendfile,
    libc::SYS_copy_file_range,
    libc::SYS_futex,
    libc::SYS_set_robust_list,
    libc::SYS_get_robust_list,
    libc::SYS_set_tid_address,
    libc::SYS_rseq,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_execve,
    libc::SYS_wait4,
    libc::SYS_waitid,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_getppid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_getgroups,
    libc::SYS_getresuid,
    libc::SYS_getresgid,
    libc::SYS_uname,
    libc::SYS_sysinfo,
    libc::SYS_getrandom,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_getrusage,
    libc::SYS_times,
    libc::SYS_getitimer,
    libc::SYS_setitimer,
    libc::SYS_ppoll,
    libc::SYS_pselect6,
    libc::SYS_umask,
    libc::SYS_restart_syscall,
    libc::SYS_getcpu,
    libc::SYS_membarrier,
    // Only so that the second filter (below) can be installed after this one.
    libc::SYS_seccomp,
];

/// The same on x86_64, which keeps the older names too.
#[cfg(target_arch = "x86_64")]
const ALLOWED_LEGACY: &[libc::c_long] = &[
    libc::SYS_open,
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_access,
    libc::SYS_dup2,
    libc::SYS_readlink,
    libc::SYS_mkdir,
    libc::SYS_rmdir,
    libc::SYS_unlink,
    libc::SYS_rename,
    libc::SYS_poll,
    libc::SYS_select,
    libc::SYS_time,
    libc::SYS_alarm,
    libc::SYS_arch_prctl,
    libc::SYS_getrlimit,
];
#[cfg(not(target_arch = "x86_64"))]
const ALLOWED_LEGACY: &[libc::c_long] = &[];

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, String> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).map_err(|e| e.to_string())
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<Vec<SeccompRule>, String> {
    Ok(vec![
        SeccompRule::new(conditions).map_err(|e| e.to_string())?
    ])
}

/// The two seccomp filters, to install in this order: the allowlist (anything else fails
/// with `EPERM`), then one that answers `clone3` with `ENOSYS` so that the C library falls
/// back to `clone`, which the allowlist admits for threads only.
pub fn seccomp_filters() -> Result<[BpfProgram; 2], String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = ALLOWED
        .iter()
        .chain(ALLOWED_LEGACY)
        .map(|s| (*s, Vec::new()))
        .collect();
    let thread = libc::CLONE_THREAD as u64;
    rules.insert(
        libc::SYS_clone,
        rule(vec![condition(0, SeccompCmpOp::MaskedEq(thread), thread)?])?,
    );
    // Reading limits is fine; setting them (which root could raise) is not.
    rules.insert(
        libc::SYS_prlimit64,
        rule(vec![condition(2, SeccompCmpOp::Eq, 0)?])?,
    );
    // seccompiler sets no_new_privs before each filter; nothing else of prctl.
    rules.insert(
        libc::SYS_prctl,
        rule(vec![condition(
            0,
            SeccompCmpOp::Eq,
            libc::PR_SET_NO_NEW_PRIVS as u64,
        )?])?,
    );
    let allowlist = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        arch,
    )
    .map_err(|e| e.to_string())?;
    let clone3 = SeccompFilter::new(
        [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    Ok([
        allowlist
            .try_into()
            .map_err(|e: seccompiler::BackendError| e.to_string())?,
        clone3
            .try_into()
            .map_err(|e: seccompiler::BackendError| e.to_string())?,
    ])
}

/// In the child: drops every capability (bounding, ambient, and the process's own sets),
/// so that an `exec` by root gains none. Errors are ignored: an unprivileged weir has
/// nothing to drop.
pub fn drop_capabilities() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    // SAFETY: prctl and capset with valid arguments; no allocation.
    unsafe {
        for cap in 0..64 {
            libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        let header = Header {
            version: VERSION_3,
            pid: 0,
        };
        let data = [Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        libc::syscall(libc::SYS_capset, &header, data.as_ptr());
    }
}
