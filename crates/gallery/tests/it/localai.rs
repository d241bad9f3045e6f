//! LocalAI's real `backend/index.yaml` (vendored in tests/fixtures) parses completely.

use trustpull_gallery::BackendIndex;

fn index() -> BackendIndex {
    let text = include_str!("../fixtures/localai-backend-index.yaml");
    BackendIndex::parse(text).expect("LocalAI's real index parses")
}

#[test]
fn parses_every_entry() {
    let index = index();
    assert_eq!(
        index.entries().len(),
        1033,
        "every list item of the index is an entry"
    );
    // Both counts cross-checked with an independent parser (PyYAML's safe_load).
    let metas = index.entries().iter().filter(|e| e.is_meta()).count();
    assert_eq!(metas, 140, "meta entries (capabilities, no uri)");
}

#[test]
fn named_entries_have_uri_and_mirrors() {
    let index = index();
    let cases = [
        (
            "cpu-llama-cpp",
            "quay.io/go-skynet/local-ai-backends:latest-cpu-llama-cpp",
            "localai/localai-backends:latest-cpu-llama-cpp",
        ),
        (
            "cuda12-llama-cpp",
            "quay.io/go-skynet/local-ai-backends:latest-gpu-nvidia-cuda-12-llama-cpp",
            "localai/localai-backends:latest-gpu-nvidia-cuda-12-llama-cpp",
        ),
        (
            "intel-rfdetr",
            "quay.io/go-skynet/local-ai-backends:latest-gpu-intel-rfdetr",
            "localai/localai-backends:latest-gpu-intel-rfdetr",
        ),
    ];
    for (name, uri, mirror) in cases {
        let entry = index.get(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(entry.uri.as_deref(), Some(uri), "{name}");
        assert_eq!(entry.mirrors, [mirror], "{name}");
    }
    let cpu = index.get("cpu-llama-cpp").expect("present");
    assert_eq!(
        cpu.alias.as_deref(),
        Some("llama-cpp"),
        "merged from the &llamacpp anchor"
    );
    assert!(
        cpu.extra.contains_key("license") && cpu.extra.contains_key("description"),
        "unknown fields are kept"
    );
}

#[test]
fn meta_llama_cpp_resolves_by_capability() {
    let index = index();
    let meta = index.get("llama-cpp").expect("present");
    assert!(meta.is_meta());
    let cases = [
        (
            "default",
            "cpu-llama-cpp",
            "quay.io/go-skynet/local-ai-backends:latest-cpu-llama-cpp",
        ),
        (
            "nvidia",
            "cuda12-llama-cpp",
            "quay.io/go-skynet/local-ai-backends:latest-gpu-nvidia-cuda-12-llama-cpp",
        ),
        (
            "no-such-capability",
            "cpu-llama-cpp",
            "quay.io/go-skynet/local-ai-backends:latest-cpu-llama-cpp",
        ),
    ];
    for (capability, name, uri) in cases {
        let entry = index
            .resolve("llama-cpp", capability)
            .unwrap_or_else(|e| panic!("{capability}: {e}"));
        assert_eq!(
            (entry.name.as_str(), entry.uri.as_deref()),
            (name, Some(uri)),
            "capability {capability}"
        );
    }
}

#[test]
fn every_meta_capability_resolves_to_a_concrete_entry() {
    let index = index();
    let mut checked = 0;
    for meta in index.entries().iter().filter(|e| e.is_meta()) {
        for capability in meta.capabilities.keys() {
            let entry = index
                .resolve(&meta.name, capability)
                .unwrap_or_else(|e| panic!("{}/{capability}: {e}", meta.name));
            assert!(
                !entry.is_meta() && entry.uri.is_some(),
                "{}/{capability}",
                meta.name
            );
            checked += 1;
        }
    }
    assert!(checked > 300, "checked {checked} capability mappings");
}
