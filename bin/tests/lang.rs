//! Both languages: the catalogues agree key for key and every key is used; the reports, the
//! comparison, the sweep, an error and `--help` in Portuguese under `LANG=pt_BR.UTF-8` and in
//! English under `LANG=C`; `--lang` over the environment; `--json` the same in both.

// The helpers every test binary of the workspace shares.
#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pi-master");
const DIR: &str = env!("CARGO_MANIFEST_DIR");

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs pi-master with `lang` as `LANG` (and nothing else set for the locale).
fn pi_master(lang: &str, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", lang);
    let what = format!("LANG={lang} pi-master {}", args.join(" "));
    let out = common::output_within(&mut cmd, Duration::from_secs(60), &what);
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn keys_of(table: &toml::Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => keys_of(t, &key, out),
            _ => {
                out.insert(key);
            }
        }
    }
}

fn catalogue(language: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(Path::new(DIR).join(format!("locales/{language}.toml")))
        .expect("a catalogue");
    let table: toml::Table = text.parse().expect("a well-formed catalogue");
    let mut keys = BTreeSet::new();
    keys_of(&table, "", &mut keys);
    keys
}

/// The apps' sources, one after the other.
fn all_sources() -> String {
    source_files()
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

fn source_files() -> Vec<std::path::PathBuf> {
    let mut files = vec![
        Path::new(DIR).join("pi-master.rs"),
        Path::new(DIR).join("ipc-bench.rs"),
    ];
    let mut dirs = vec![Path::new(DIR).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// Every string literal in the apps' sources that looks like a catalogue key.
fn keys_in_sources() -> BTreeSet<String> {
    // Every section of the catalogues: a key named in the code and missing from them is
    // found whatever its section.
    let sections: Vec<String> = catalogue("en")
        .iter()
        .filter_map(|key| key.split_once('.').map(|(section, _)| section.to_string()))
        .collect();
    let mut found = BTreeSet::new();
    for file in source_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for piece in text.split('"').skip(1).step_by(2) {
            if let Some((section, rest)) = piece.split_once('.')
                && sections.iter().any(|s| s == section)
                && !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                found.insert(piece.to_string());
            }
        }
    }
    found
}

#[test]
fn both_catalogues_have_every_key_and_every_key_is_used() {
    let en = catalogue("en");
    let pt = catalogue("pt");
    let only_en: Vec<_> = en.difference(&pt).collect();
    let only_pt: Vec<_> = pt.difference(&en).collect();
    assert!(only_en.is_empty(), "missing in pt.toml: {only_en:?}");
    assert!(only_pt.is_empty(), "missing in en.toml: {only_pt:?}");
    let used = keys_in_sources();
    let missing: Vec<_> = used.difference(&en).collect();
    assert!(missing.is_empty(), "used but in no catalogue: {missing:?}");
    let sources = all_sources();
    let unused: Vec<_> = en
        .iter()
        .filter(|key| !sources.contains(&format!("\"{key}\"")))
        .collect();
    assert!(
        unused.is_empty(),
        "in the catalogues but never used: {unused:?}"
    );
}

fn fits(text: &str) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}\n{text}"
        );
    }
}

#[test]
fn reports_speak_portuguese_under_a_portuguese_locale_and_english_under_c() {
    for ipc in ["pipe", "queue"] {
        let args = ["--procs", "2", "--steps", "1e6", "--ipc", ipc];
        let pt = pi_master("pt_BR.UTF-8", &args);
        assert_eq!(pt.code, Some(0), "{}", pt.stderr);
        assert!(
            pt.stdout.contains(
                "pi pela regra do ponto médio: 1000000 passos em 2 processos trabalhadores"
            ),
            "{}",
            pt.stdout
        );
        assert!(pt.stdout.contains("tempo real"), "{}", pt.stdout);
        // Numbers keep the decimal point.
        assert!(pt.stdout.contains("3.14159265358"), "{}", pt.stdout);
        fits(&pt.stdout);
        let en = pi_master("C", &args);
        assert!(
            en.stdout
                .contains("pi by the midpoint rule: 1000000 steps over 2 worker processes"),
            "{}",
            en.stdout
        );
        assert!(en.stdout.contains("wall time"), "{}", en.stdout);
    }
    for lang in ["pt_PT.UTF-8", "pt"] {
        let run = pi_master(lang, &["--procs", "1", "--steps", "1"]);
        assert!(
            run.stdout.contains("1 passo em 1 processo trabalhador"),
            "{lang}: {}",
            run.stdout
        );
    }
    let compare = pi_master(
        "pt_BR.UTF-8",
        &["--compare", "--procs", "2", "--steps", "1e5"],
    );
    assert_eq!(compare.code, Some(0), "{}", compare.stderr);
    assert!(
        compare
            .stdout
            .contains("Todos os modos calcularam os mesmos bits de pi."),
        "{}",
        compare.stdout
    );
    fits(&compare.stdout);
    let sweep = pi_master(
        "pt_BR.UTF-8",
        &["sweep", "--procs", "2", "--steps", "1e5", "--repeat", "1"],
    );
    assert_eq!(sweep.code, Some(0), "{}", sweep.stderr);
    assert!(
        sweep
            .stdout
            .contains("aceleração do pi-master em 100000 passos"),
        "{}",
        sweep.stdout
    );
    assert!(sweep.stdout.contains("Lei de Amdahl"), "{}", sweep.stdout);
    fits(&sweep.stdout);
    let verbose = pi_master("pt_BR.UTF-8", &["--procs", "2", "--steps", "1e3", "-v"]);
    assert!(
        verbose.stderr.contains("iniciou o trabalhador 0"),
        "{}",
        verbose.stderr
    );
    assert!(
        verbose.stderr.contains("e foi recolhido"),
        "{}",
        verbose.stderr
    );
}

#[test]
fn errors_and_help_follow_the_language() {
    let pt = pi_master("pt_BR.UTF-8", &["--lang", "fr"]);
    assert_eq!(pt.code, Some(2), "{}", pt.stderr);
    assert!(
        pt.stderr.contains("erro:") && pt.stderr.contains("valores possíveis: pt, en"),
        "{}",
        pt.stderr
    );
    let en = pi_master("C", &["--lang", "fr"]);
    assert_eq!(en.code, Some(2), "{}", en.stderr);
    assert!(
        en.stderr.contains("error:") && en.stderr.contains("possible values: pt, en"),
        "{}",
        en.stderr
    );
    // A number refused, in Portuguese: clap's frame, our reason.
    let zero = pi_master("pt_BR.UTF-8", &["--procs", "0"]);
    assert_eq!(zero.code, Some(2), "{}", zero.stderr);
    assert!(
        zero.stderr.contains("precisa ser pelo menos 1"),
        "{}",
        zero.stderr
    );
    let list = pi_master("pt_BR.UTF-8", &["sweep", "--procs", "1,,x"]);
    assert!(list.stderr.contains("está vazio"), "{}", list.stderr);
    // Every other mistake on the command line too: said in Portuguese, exit status 2, and
    // nothing of clap's English left.
    for (args, said) in [
        (
            &["--procs", "2", "--procs", "3"][..],
            "não pode ser usado mais de uma vez",
        ),
        (&["--json=yes"], "valor inesperado 'yes' para '--json'"),
        (
            &["--compare", "--ipc", "pipe"],
            "'--compare' não pode ser usado junto com '--ipc <IPC>'",
        ),
        (
            &["--procs", "1", "sweep"],
            "o subcomando 'sweep' não pode ser usado junto com '--procs <N>'",
        ),
        (&["--prcs", "3"], "existe um parecido: '--procs'"),
        (&["swep"], "existe um parecido: 'sweep'"),
        // pi-master's own refusals, besides clap's.
        (
            &["--chunks", "3"],
            "--chunks vale só para --ipc queue e pool",
        ),
        (
            &["--compare", "--timeline"],
            "--timeline desenha uma execução; --compare faz várias",
        ),
        (
            &["sweep", "--repeat", "500"],
            "500 execuções de cada levariam tempo demais (no máximo 99)",
        ),
        (
            &["sweep", "--plot", "/"],
            "não foi possível escrever o gráfico em /: é um diretório",
        ),
        (
            &["sweep", "--plot", "/no-such-directory/speedup.svg"],
            "não foi possível escrever o gráfico em /no-such-directory/speedup.svg: arquivo ou \
             diretório inexistente",
        ),
    ] {
        let out = pi_master("pt_BR.UTF-8", args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(said), "{args:?}: {}", out.stderr);
        for english in ["cannot", "unexpected", "Usage", "tip:", "found"] {
            assert!(
                !out.stderr.contains(english),
                "{args:?} left {english:?}: {}",
                out.stderr
            );
        }
        let en = pi_master("C", args);
        assert_eq!(en.code, Some(2), "{args:?}: {}", en.stderr);
        assert!(en.stderr.contains("error:"), "{args:?}: {}", en.stderr);
    }
    let help_pt = pi_master("pt_BR.UTF-8", &["--help"]);
    assert_eq!(help_pt.code, Some(0));
    for needle in [
        "Uso:",
        "Opções",
        "Processos trabalhadores a iniciar",
        "Status de saída",
    ] {
        assert!(
            help_pt.stdout.contains(needle),
            "missing {needle:?}: {}",
            help_pt.stdout
        );
    }
    fits(&help_pt.stdout);
    let help_en = pi_master("C", &["--help"]);
    for needle in [
        "Usage:",
        "Options",
        "Worker processes to start",
        "Exit status",
    ] {
        assert!(
            help_en.stdout.contains(needle),
            "missing {needle:?}: {}",
            help_en.stdout
        );
    }
}

#[test]
fn lang_overrides_the_environment() {
    let args = ["--procs", "1", "--steps", "10"];
    let en = pi_master("pt_BR.UTF-8", &[&args[..], &["--lang", "en"]].concat());
    assert!(
        en.stdout.contains("pi by the midpoint rule"),
        "{}",
        en.stdout
    );
    let pt = pi_master("C", &[&args[..], &["--lang=pt"]].concat());
    assert!(
        pt.stdout.contains("pi pela regra do ponto médio"),
        "{}",
        pt.stdout
    );
    let sweep = pi_master(
        "C",
        &[
            "sweep", "--procs", "1", "--steps", "10", "--repeat", "1", "--lang", "pt",
        ],
    );
    assert!(sweep.stdout.contains("aceleração"), "{}", sweep.stdout);
}

/// The JSON of a run without what changes from run to run: times and pids.
fn stable(json: &str) -> Value {
    let mut v: Value = serde_json::from_str(json.trim()).expect("JSON");
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for key in [
                    "wall_seconds",
                    "master_pid",
                    "pid",
                    "compute_seconds",
                    "peak_rss_kib",
                ] {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

#[test]
fn json_is_the_same_in_both_languages() {
    for args in [
        &["--procs", "2", "--steps", "1e6", "--json"][..],
        &[
            "--procs",
            "3",
            "--steps",
            "1e6",
            "--ipc",
            "shm-channel",
            "--json",
        ],
    ] {
        let pt = pi_master("pt_BR.UTF-8", args);
        let en = pi_master("C", args);
        assert_eq!(
            stable(&pt.stdout),
            stable(&en.stdout),
            "{}\n{}",
            pt.stdout,
            en.stdout
        );
        assert!(
            pt.stdout.contains("\"ipc\":"),
            "keys stay English: {}",
            pt.stdout
        );
    }
}

/// A run that lost a worker records why in its JSON: the same words in both languages.
#[cfg(feature = "fault-injection")]
#[test]
fn json_is_the_same_in_both_languages_after_a_retry() {
    let json = |lang: &str| {
        let spent = std::env::temp_dir().join(format!(
            "pi-master-lang-spent-{}-{lang}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&spent);
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["--procs", "2", "--steps", "1e6", "--retries", "1", "--json"])
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", lang)
            .env("PI_MASTER_FAULT", "1:start:exit")
            .env("PI_MASTER_FAULT_SPENT", &spent);
        let out = common::output_within(&mut cmd, Duration::from_secs(60), lang);
        let _ = std::fs::remove_dir_all(&spent);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ((pt, pt_said), (en, en_said)) = (json("pt_BR.UTF-8"), json("C"));
    assert!(pt.contains("\"cause\""), "a retry recorded: {pt}");
    assert_eq!(stable(&pt), stable(&en), "{pt}\n{en}");
    // What people read on stderr still follows the language.
    assert!(
        pt_said.contains("nova tentativa 1 de 1") && !pt_said.contains("retry 1 of 1"),
        "{pt_said}"
    );
    assert!(en_said.contains("retry 1 of 1"), "{en_said}");
}

/// A worker that fails, said in Portuguese with nothing of the runtime's English: a panic
/// with its place, bytes that are no message, a death between chunks, a worker that does not
/// exit; and the same runs in English.
#[cfg(feature = "fault-injection")]
#[test]
fn a_failing_worker_is_described_in_portuguese() {
    let run = |lang: &str, ipc: &str, fault: &str| {
        let mut cmd = std::process::Command::new(BIN);
        // Enough steps that worker 1 takes a chunk in queue mode before worker 0 is done.
        cmd.args(["--procs", "2", "--steps", "1e9", "--ipc", ipc])
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", lang)
            .env("RUST_BACKTRACE", "0")
            .env("PI_MASTER_FAULT", fault);
        let out = common::output_within(&mut cmd, Duration::from_secs(60), fault);
        assert_eq!(out.status.code(), Some(1), "{ipc} {fault}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // The last line is the master's; a panicking worker prints its own before it.
        stderr.lines().last().unwrap_or_default().to_string()
    };
    for (ipc, fault, said, english) in [
        (
            "pipe",
            "1:computing:panic",
            "entrou em pânico em bin/src/master/fault.rs",
            "it panicked at bin/src/master/fault.rs",
        ),
        (
            "pipe",
            "1:result:garbage",
            "mensagem de 4294967295 bytes, acima do limite",
            "message of 4294967295 bytes is over the connection's limit",
        ),
        (
            "shm-channel",
            "1:result:garbage",
            "o codec diz:",
            "the codec says:",
        ),
        (
            "queue",
            "1:took:crash",
            "sem nenhum pedaço que tivesse anunciado",
            "holding no chunk it had reported",
        ),
    ] {
        let pt = run("pt_BR.UTF-8", ipc, fault);
        assert!(pt.contains(said), "{ipc} {fault}: {pt}");
        assert!(!pt.contains(english), "{ipc} {fault}: {pt}");
        let en = run("C", ipc, fault);
        assert!(en.contains(english), "{ipc} {fault}: {en}");
    }
}

/// What a worker says itself (here, its refusal of a range) follows `--lang`, not the
/// environment: the master hands its language to every worker it starts.
#[cfg(feature = "fault-injection")]
#[test]
fn a_worker_speaks_the_language_of_lang() {
    for ipc in ["pipe", "queue"] {
        for (env, flag, said, other) in [
            (
                "C",
                "pt",
                "recebeu um intervalo inválido",
                "was sent an invalid range",
            ),
            (
                "pt_BR.UTF-8",
                "en",
                "was sent an invalid range",
                "recebeu um intervalo inválido",
            ),
        ] {
            let mut cmd = std::process::Command::new(BIN);
            // Enough steps that worker 1 takes a chunk in queue mode before worker 0 is done.
            cmd.args([
                "--procs", "2", "--steps", "1e9", "--ipc", ipc, "--lang", flag,
            ])
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", env)
            .env("PI_MASTER_FAULT", "1:computing:refuse");
            let context = format!("LANG={env} pi-master --ipc {ipc} --lang {flag}");
            let out = common::output_within(&mut cmd, Duration::from_secs(60), &context);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{context}\n{stderr}");
            let last = stderr.lines().last().unwrap_or_default();
            assert!(last.contains(said), "{context}\n{stderr}");
            assert!(!stderr.contains(other), "{context}\n{stderr}");
        }
    }
}

/// ipc-bench's pool and synchronisation tables in both languages.
#[test]
fn the_benchmark_tables_follow_the_language() {
    for (sub, pt_words, en_words) in [
        ("pool", "Pool (medianas)", "Pool (medians)"),
        (
            "sync",
            "sincronização entre processos",
            "synchronisation between processes",
        ),
    ] {
        let bench = |lang: &str| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ipc-bench"));
            cmd.args([sub, "--scale", "0.01", "--repeat", "1"])
                .env_remove("LC_ALL")
                .env_remove("LC_MESSAGES")
                .env("LANG", lang);
            let out = common::output_within(&mut cmd, Duration::from_secs(60), sub);
            assert!(out.status.success(), "{sub} {lang}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let pt = bench("pt_BR.UTF-8");
        assert!(pt.contains(pt_words) && !pt.contains(en_words), "{pt}");
        fits(&pt);
        let en = bench("C");
        assert!(en.contains(en_words), "{en}");
    }
}

/// A limit the workers would pass, said with its numbers in Portuguese (the runtime gives the
/// numbers; the tool says them).
#[test]
fn a_limit_is_explained_in_portuguese() {
    let script = format!("ulimit -n 64 && exec {BIN} --procs 100 --steps 1e3");
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", &script])
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "pt_BR.UTF-8");
    let out = common::output_within(&mut cmd, Duration::from_secs(60), &script);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("não é possível iniciar 100 processos trabalhadores")
            && stderr.contains("descritores abertos")
            && stderr.contains("ulimit -n"),
        "{stderr}"
    );
}
