//! A component's bytes and what they say of themselves: yungui's engine component (the bytes
//! every policy component is built from), a component file read within bounds, the top-level
//! outline of a component, and the identity `yungui build` writes into its `yungui:policy-set`
//! custom section. Plain data and parsing: no wasmtime here.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use yungui_policies::wire::PolicySources;

/// yungui's engine component: policy-free; `yungui build` makes policy components from it.
pub const ENGINE_COMPONENT: &[u8] = include_bytes!(env!("YUNGUI_ENGINE_WASM"));

/// The sha256 of [`ENGINE_COMPONENT`], hex.
pub const ENGINE_SHA256: &str = env!("YUNGUI_ENGINE_SHA256");

/// The name of the custom section that holds a built component's [`Identity`].
pub const IDENTITY_SECTION: &str = "yungui:policy-set";

/// The sha256 of some bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A control, as a built component's identity lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityControl {
    /// The control id.
    pub control: String,
    /// The article of the notice.
    pub article: String,
    /// `deny` or `warn`.
    pub severity: String,
    /// The policy file it lives in.
    pub file: String,
}

/// What a built component says of itself, in its `yungui:policy-set` custom section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The digest of the policy set it holds ([`Sources::digest`]).
    pub policy_digest: String,
    /// The sha256 of the engine component it was built from.
    pub engine_sha256: String,
    /// The yungui version that built it.
    pub built_by: String,
    /// Every control of the policy set, in control order.
    pub controls: Vec<IdentityControl>,
    /// The policy set itself.
    pub sources: PolicySources,
}

impl Identity {
    /// Reads the identity section of a component, without running it. `Ok(None)` when it has
    /// none (a component not made by `yungui build`).
    pub fn read(wasm: &[u8]) -> Result<Option<Self>, NotAComponent> {
        let outline = Outline::read(wasm)?;
        outline
            .custom
            .iter()
            .find(|(name, _)| name == IDENTITY_SECTION)
            .map(|(_, data)| serde_json::from_slice(data).map_err(NotAComponent::Identity))
            .transpose()
    }
}

impl Identity {
    /// Appends the identity section to a component's bytes.
    pub(crate) fn append_to(&self, wasm: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        let section = serde_json::to_vec(self)?;
        wasm_encoder::ComponentSection::append_to_component(
            &wasm_encoder::CustomSection {
                name: IDENTITY_SECTION.into(),
                data: section.into(),
            },
            wasm,
        );
        Ok(())
    }
}

/// A component's top level, read without compiling it.
#[derive(Debug, Clone, Default)]
pub struct Outline {
    /// The names it imports, e.g. `yungui:policy/registry@0.2.0`.
    pub imports: Vec<String>,
    /// The names it exports, e.g. `yungui:policy/decide@0.2.0`.
    pub exports: Vec<String>,
    /// Its top-level custom sections: (name, data).
    pub custom: Vec<(String, Vec<u8>)>,
}

impl Outline {
    /// Parses the component's top-level sections (nested modules and components are skipped).
    pub fn read(wasm: &[u8]) -> Result<Self, NotAComponent> {
        use wasmparser::{Encoding, Payload};
        let bad = NotAComponent::Parse;
        let mut outline = Self::default();
        let mut depth = 0usize;
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload.map_err(bad)? {
                Payload::Version { encoding, .. }
                    if depth == 0 && encoding != Encoding::Component =>
                {
                    return Err(NotAComponent::CoreModule);
                }
                Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(reader) if depth == 0 => {
                    for import in reader {
                        outline
                            .imports
                            .push(import.map_err(bad)?.name.name.to_owned());
                    }
                }
                Payload::ComponentExportSection(reader) if depth == 0 => {
                    for export in reader {
                        outline
                            .exports
                            .push(export.map_err(bad)?.name.name.to_owned());
                    }
                }
                Payload::CustomSection(section) if depth == 0 => outline
                    .custom
                    .push((section.name().to_owned(), section.data().to_vec())),
                _ => {}
            }
        }
        Ok(outline)
    }
}

/// Why some bytes are not a component yungui can read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotAComponent {
    /// The bytes do not parse as wasm.
    #[error("not a wasm component: {0}")]
    Parse(wasmparser::BinaryReaderError),
    /// A core module, not a component.
    #[error("not a wasm component: it is a core wasm module; yungui runs components")]
    CoreModule,
    /// Its identity section is not valid.
    #[error("not a wasm component: its `{IDENTITY_SECTION}` section is not valid: {0}")]
    Identity(serde_json::Error),
}

/// Why a component file could not be read (the path is named by the error that holds this one).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file could not be opened or read.
    #[error("{0}")]
    Io(std::io::Error),
    /// Not a regular file (a device, a pipe, a folder).
    #[error("not a regular file (a {0}): a component is read from a regular file")]
    NotARegularFile(FileKind),
    /// Larger than [`MAX_COMPONENT_BYTES`].
    #[error("larger than {} MiB: not a policy component", MAX_COMPONENT_BYTES >> 20)]
    TooLarge,
}

impl FileError {
    /// The I/O error, when opening or reading the file failed.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            Self::Io(err) => Some(err),
            _ => None,
        }
    }
}

/// What a path that is not a regular file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A character device, e.g. `/dev/zero`.
    CharacterDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    NamedPipe,
    /// A socket.
    Socket,
    /// A folder.
    Folder,
    /// Anything else.
    Special,
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::CharacterDevice => "character device",
            Self::BlockDevice => "block device",
            Self::NamedPipe => "named pipe",
            Self::Socket => "socket",
            Self::Folder => "folder",
            Self::Special => "special file",
        })
    }
}

/// A component file larger than this is refused (a built policy component is a few MB).
pub const MAX_COMPONENT_BYTES: u64 = 64 << 20;

/// Reads a component file: a regular file (a link to one is followed) of at most
/// [`MAX_COMPONENT_BYTES`]; anything else (a device, a pipe, a folder) is refused before it is
/// read, never read without end.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, FileError> {
    use std::io::Read as _;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Opening a named pipe would wait for a writer.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(FileError::Io)?;
    let meta = file.metadata().map_err(FileError::Io)?;
    if !meta.is_file() {
        return Err(FileError::NotARegularFile(file_kind(&meta.file_type())));
    }
    if meta.len() > MAX_COMPONENT_BYTES {
        return Err(FileError::TooLarge);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_COMPONENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(FileError::TooLarge);
    }
    Ok(bytes)
}

fn file_kind(kind: &std::fs::FileType) -> FileKind {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_char_device() {
            return FileKind::CharacterDevice;
        }
        if kind.is_block_device() {
            return FileKind::BlockDevice;
        }
        if kind.is_fifo() {
            return FileKind::NamedPipe;
        }
        if kind.is_socket() {
            return FileKind::Socket;
        }
    }
    if kind.is_dir() {
        FileKind::Folder
    } else {
        FileKind::Special
    }
}
