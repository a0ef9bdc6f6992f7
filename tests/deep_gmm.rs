//! The deep GMM: its density against the dense flat GMM of its enumerated paths, the
//! layer-wise path search against brute force, EM's objective, save/load, config errors.

mod common;

use common::{SEED, dense_normal_log_density};
use gmm_zoo::models::deep_search::{best_paths, brute_force_best_paths};
use gmm_zoo::models::{
    DeepGmm, DeepGmmConfig, Device, Encoded, Generative, Init, Mixture, NodeParams, PathAssignment,
    Tensor, TensorData, default_e_step_batch, to_host_f64,
};
use gmm_zoo::training::{EmConfig, Layer, LayerConfig, Progress, RunConfig, fit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn device() -> Device {
    common::device()
}

fn config(nodes: &[usize], e_step: PathAssignment, beam: usize) -> DeepGmmConfig {
    DeepGmmConfig {
        nodes: nodes.to_vec(),
        e_step,
        beam,
        reg_covar: 1e-6,
        m_step_iters: 60,
        learning_rate: 1e-2,
        init_noise: 0.1,
    }
}

/// A random network: every `A = I + 0.6 G` (G uniform in ±1/√D... scaled), well away from
/// singular; biases spread so that paths are distinguishable; random path weights.
fn random_network(nodes: &[usize], d: usize, rng: &mut ChaCha8Rng) -> (NodeParams, Vec<f64>) {
    let m: usize = nodes.iter().sum();
    let a: Vec<f64> = (0..m * d * d)
        .map(|k| {
            let eye = if (k % (d * d)) / d == k % d { 1.0 } else { 0.0 };
            eye + 0.6 * rng.random_range(-1.0..1.0) / (d as f64).sqrt()
        })
        .collect();
    let b: Vec<f64> = (0..m * d).map(|_| rng.random_range(-3.0..3.0)).collect();
    let k: usize = nodes.iter().product();
    let w: Vec<f64> = (0..k).map(|_| rng.random_range(0.2..1.0)).collect();
    let total: f64 = w.iter().sum();
    (NodeParams { a, b, dim: d }, w.iter().map(|v| v / total).collect())
}

/// The oracle's path component, straight from the generative formula applied from the top:
/// `x = A_1(A_2(… (A_L z + b_L) …) + b_2) + b_1`, i.e. `(M, μ) ← (A_l M, A_l μ + b_l)` for
/// l = L … 1 from `(I, 0)`; `Σ = M Mᵀ`.
fn oracle_component(nodes: &NodeParams, path: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let d = nodes.dim;
    let mut m: Vec<f64> = (0..d * d).map(|k| if k / d == k % d { 1.0 } else { 0.0 }).collect();
    let mut mu = vec![0.0; d];
    for &node in path.iter().rev() {
        let a = &nodes.a[node * d * d..(node + 1) * d * d];
        let b = &nodes.b[node * d..(node + 1) * d];
        let am: Vec<f64> = (0..d * d)
            .map(|k| (0..d).map(|t| a[(k / d) * d + t] * m[t * d + k % d]).sum())
            .collect();
        mu = (0..d).map(|i| (0..d).map(|t| a[i * d + t] * mu[t]).sum::<f64>() + b[i]).collect();
        m = am;
    }
    let sigma: Vec<f64> =
        (0..d * d).map(|k| (0..d).map(|t| m[(k / d) * d + t] * m[(k % d) * d + t]).sum()).collect();
    (mu, sigma)
}

fn rows(x: &[f32], d: usize) -> Tensor<2> {
    Tensor::from_data(TensorData::new(x.to_vec(), [x.len() / d, d]), &device())
}

#[test]
fn density_equals_the_flat_gmm_of_its_enumerated_paths() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    for nodes in [vec![3], vec![2, 3], vec![2, 2, 3]] {
        let d = 4;
        let (params, weights) = random_network(&nodes, d, &mut rng);
        let cfg = config(&nodes, PathAssignment::Soft, 4);
        let layer = DeepGmm::from_parts(&params, &weights, &cfg, &device()).unwrap();
        assert_eq!(layer.n_components(), nodes.iter().product::<usize>());
        let x: Vec<f32> = (0..25 * d).map(|_| rng.random_range(-5.0..5.0)).collect();
        let got = to_host_f64(layer.score_samples(rows(&x, d))).unwrap();
        for (i, g) in got.iter().enumerate() {
            let xi: Vec<f64> = x[i * d..(i + 1) * d].iter().map(|&v| v as f64).collect();
            let terms: Vec<f64> = (0..layer.n_components())
                .map(|p| {
                    let (mu, sigma) = oracle_component(&params, &layer.path_nodes(p));
                    let y: Vec<f64> = xi.iter().zip(&mu).map(|(a, b)| a - b).collect();
                    weights[p].ln() + dense_normal_log_density(&y, &sigma)
                })
                .collect();
            let max = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let want = max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln();
            assert!(
                (g - want).abs() < 2e-3 * want.abs().max(1.0),
                "{nodes:?} row {i}: {g} vs {want}"
            );
        }
    }
}

#[test]
fn layerwise_search_equals_brute_force() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 1);
    let (nodes, d) = (vec![3, 4, 3], 3);
    let (params, weights) = random_network(&nodes, d, &mut rng);
    let layer = DeepGmm::from_parts(
        &params,
        &weights,
        &config(&nodes, PathAssignment::Hard, 12),
        &device(),
    )
    .unwrap();
    let (x, _) = layer.sample(2000, &mut rng).unwrap();
    let brute = brute_force_best_paths(&layer, rows(&x, d));
    let brute_path = brute.path.into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
    let brute_score = to_host_f64(brute.score).unwrap();
    // beam = N_1 N_2 = 12: the search is exhaustive and must agree exactly.
    let exact = best_paths(&layer, rows(&x, d), 12).unwrap();
    let exact_path = exact.path.into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
    let exact_score = to_host_f64(exact.score).unwrap();
    assert_eq!(exact_path, brute_path);
    for (a, b) in exact_score.iter().zip(&brute_score) {
        assert!((a - b).abs() < 1e-3 * b.abs().max(1.0), "{a} vs {b}");
    }
    // A narrow beam never finds a better path than the best, and finds it for most rows.
    for beam in [1, 3] {
        let found = best_paths(&layer, rows(&x, d), beam).unwrap();
        let path = found.path.into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
        let score = to_host_f64(found.score).unwrap();
        let agree = path.iter().zip(&brute_path).filter(|(a, b)| a == b).count();
        for (a, b) in score.iter().zip(&brute_score) {
            assert!(*a <= b + 1e-3 * b.abs().max(1.0), "beam {beam}: {a} above the best {b}");
        }
        let rate = agree as f64 / x.len() as f64 * d as f64;
        println!("beam {beam}: best path found for {:.1} % of rows", 100.0 * rate);
        assert!(rate > if beam == 1 { 0.3 } else { 0.6 }, "beam {beam}: {rate}");
    }
}

/// The soft-beam E-step is the posterior restricted to the paths the search reaches: with an
/// exhaustive beam, exactly the soft E-step (every path); with a narrow one, each row's
/// objective lies between its best reached path's score and its exact log-likelihood, and its
/// responsibilities sit on at most `beam · N_L` paths and sum to 1.
#[test]
fn soft_beam_e_step_is_the_posterior_over_the_reached_paths() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 4);
    let (nodes, d) = (vec![3, 4, 3], 3);
    let (params, weights) = random_network(&nodes, d, &mut rng);
    let network = |e_step, beam| {
        DeepGmm::from_parts(&params, &weights, &config(&nodes, e_step, beam), &device()).unwrap()
    };
    let (x, _) = network(PathAssignment::Soft, 1).sample(1000, &mut rng).unwrap();
    let soft = network(PathAssignment::Soft, 1).e_step_rows(rows(&x, d), 1.0).unwrap();
    let soft_resp = to_host_f64(soft.resp).unwrap();
    let ll = to_host_f64(soft.objective).unwrap();
    // K paths; a beam of N_1·N_2 prefixes is exhaustive, and each prefix reaches N_3 paths.
    let (k, exhaustive, last) = (nodes.iter().product::<usize>(), nodes[0] * nodes[1], nodes[2]);
    for beam in [exhaustive, 3, 1] {
        let layer = network(PathAssignment::SoftBeam, beam);
        let got = layer.e_step_rows(rows(&x, d), 1.0).unwrap();
        let resp = to_host_f64(got.resp).unwrap();
        let objective = to_host_f64(got.objective).unwrap();
        let best = to_host_f64(best_paths(&layer, rows(&x, d), beam).unwrap().score).unwrap();
        let mut gap = 0.0;
        for i in 0..ll.len() {
            let row = &resp[i * k..(i + 1) * k];
            let tol = 1e-4 * ll[i].abs().max(1.0);
            if beam == exhaustive {
                assert!(
                    (objective[i] - ll[i]).abs() < tol,
                    "row {i}: {} vs {}",
                    objective[i],
                    ll[i]
                );
                for (a, b) in row.iter().zip(&soft_resp[i * k..(i + 1) * k]) {
                    assert!((a - b).abs() < 1e-4, "row {i}: {a} vs {b}");
                }
            }
            assert!(objective[i] <= ll[i] + tol, "beam {beam} row {i}: above log p(x)");
            assert!(objective[i] >= best[i] - tol, "beam {beam} row {i}: below its best path");
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-4, "beam {beam} row {i}");
            assert!(row.iter().filter(|&&r| r > 0.0).count() <= beam * last, "beam {beam} row {i}");
            gap += (ll[i] - objective[i]) / ll.len() as f64;
        }
        println!("beam {beam}: mean log p(x) − objective = {gap:.4} nats");
        if beam < exhaustive {
            assert!(gap > 0.0, "beam {beam} reached every path's mass");
        }
    }
}

/// On a CPU the hard and soft-beam E-steps hand each path its rows from the search's lists
/// (`DeepGmm::e_step_batch`); the objective and every statistic must be those of the dense
/// `[N, K]` posterior (`default_e_step_batch`), number for number. (On a GPU both are the dense
/// route.)
#[test]
fn searched_e_steps_give_the_dense_posteriors_statistics() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 5);
    let (nodes, d) = (vec![3, 4, 3], 3);
    let (params, weights) = random_network(&nodes, d, &mut rng);
    let network = |e_step, beam| {
        DeepGmm::from_parts(&params, &weights, &config(&nodes, e_step, beam), &device()).unwrap()
    };
    let (x, _) = network(PathAssignment::Soft, 1).sample(1000, &mut rng).unwrap();
    let x = rows(&x, d);
    for (e_step, beam) in
        [(PathAssignment::Hard, 2), (PathAssignment::SoftBeam, 3), (PathAssignment::SoftBeam, 12)]
    {
        let layer = network(e_step, beam);
        let sparse = layer.e_step_batch(&x, 1.0).unwrap();
        let dense = default_e_step_batch(&layer, &x, 1.0).unwrap();
        let flat = |stats| layer.stats_to_flat(&stats).unwrap();
        assert_eq!(
            to_host_f64(sparse.objective).unwrap(),
            to_host_f64(dense.objective).unwrap(),
            "{e_step:?}, beam {beam}: objective"
        );
        let (got, want) = (flat(sparse.stats), flat(dense.stats));
        assert_eq!(got.len(), want.len());
        assert!(want.iter().any(|&v| v != 0.0), "{e_step:?}: no statistics");
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "{e_step:?}, beam {beam}: entry {i}: {a} vs {b}");
        }
    }
}

/// Samples of a known network, as EM's input.
fn known_data(nodes: &[usize], d: usize, n: usize) -> Encoded {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 2);
    let (params, weights) = random_network(nodes, d, &mut rng);
    let truth =
        DeepGmm::from_parts(&params, &weights, &config(nodes, PathAssignment::Soft, 1), &device())
            .unwrap();
    let (x, _) = truth.sample(n, &mut rng).unwrap();
    Encoded::from_rows(&x, d, 1000, &device())
}

#[test]
fn em_never_lowers_its_objective() {
    let (nodes, d) = (vec![3, 2], 4);
    let data = known_data(&nodes, d, 4000);
    let em = EmConfig { batch_size: 1000, init: Init::KmeansPlusPlus, ..EmConfig::iterations(8) };
    // Soft EM raises the log-likelihood; hard EM with the exhaustive search its best-path
    // bound; soft-beam EM the likelihood over the reached paths, here with a beam of 2 of 3.
    let cases =
        [(PathAssignment::Soft, 1), (PathAssignment::Hard, 3), (PathAssignment::SoftBeam, 2)];
    for (e_step, beam) in cases {
        let layer = config(&nodes, e_step, beam).init(d, &device()).unwrap();
        let (layer, report) = fit(layer, &data, &em, SEED, &Progress::quiet()).unwrap();
        let objective: Vec<f64> = report.iterations.iter().map(|r| r.objective).collect();
        println!("{e_step:?}: {objective:?}");
        for w in objective.windows(2) {
            assert!(w[1] >= w[0] - 2e-4 * w[0].abs().max(1.0), "{e_step:?}: {objective:?}");
        }
        assert!(objective.last().unwrap() > &(objective[0] + 1e-3), "{e_step:?} did not move");
        let ll = gmm_zoo::training::em::mean_log_likelihood(&layer, &data).unwrap();
        assert!(ll.is_finite());
    }
}

/// EM's inequality: the likelihood gains at least what the M-step's climb raised Q by
/// (`L(θ') − L(θ) ≥ Q(θ') − Q(θ)`, and the closed-form weights only add to it), so the
/// recorded climb of exact (soft) EM is checked against the next iteration's likelihood. It
/// must be a real climb too: positive at the start, its last half a part of it.
#[test]
fn the_m_steps_recorded_climb_bounds_the_likelihoods_gain() {
    let (nodes, d) = (vec![3, 2], 4);
    let data = known_data(&nodes, d, 4000);
    let em = EmConfig { batch_size: 1000, init: Init::KmeansPlusPlus, ..EmConfig::iterations(8) };
    let layer = config(&nodes, PathAssignment::Soft, 1).init(d, &device()).unwrap();
    let (_, report) = fit(layer, &data, &em, SEED, &Progress::quiet()).unwrap();
    let climbs: Vec<_> = report.iterations.iter().map(|r| r.m_step.unwrap()).collect();
    for (w, climb) in report.iterations.windows(2).zip(&climbs) {
        let gained = w[1].log_likelihood - w[0].log_likelihood;
        println!("iter {}: likelihood {gained:+.6}, climb {climb:?}", w[0].iter);
        assert_eq!(climb.steps, 60);
        assert!(climb.gain >= 0.0 && climb.second_half_gain >= 0.0, "{climb:?}");
        assert!(climb.second_half_gain <= climb.gain, "{climb:?}");
        assert!(gained >= climb.gain - 1e-4, "gained {gained} < climb {climb:?}");
    }
    assert!(climbs[0].gain > 1e-2, "the first M-step did not climb: {:?}", climbs[0]);
}

#[test]
fn record_round_trips_exactly() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 3);
    let (nodes, d) = (vec![2, 3], 5);
    let (params, weights) = random_network(&nodes, d, &mut rng);
    let cfg = config(&nodes, PathAssignment::Hard, 2);
    let layer = DeepGmm::from_parts(&params, &weights, &cfg, &device()).unwrap();
    let x: Vec<f32> = (0..40 * d).map(|_| rng.random_range(-4.0..4.0)).collect();
    let before = to_host_f64(layer.score_samples(rows(&x, d))).unwrap();
    let bytes = Layer::from(layer).record_bytes().unwrap();
    let loaded = LayerConfig::Deep(cfg.into()).load_record(6, [1, d], bytes, &device()).unwrap();
    let loaded = DeepGmm::try_from(loaded).unwrap();
    let after = to_host_f64(loaded.score_samples(rows(&x, d))).unwrap();
    assert_eq!(before, after);
}

#[test]
fn bad_deep_configs_name_their_key() {
    let base =
        "name = \"d\"\nseed = 1\n[data]\ndataset = \"bsds300\"\nn_train = 100\nn_test = 10\n";
    let cases = [
        ("[model]\nkind = \"deep\"\nnodes = []\n", "nodes"),
        ("[model]\nkind = \"deep\"\nnodes = [4, 0]\n", "nodes"),
        ("[model]\nkind = \"deep\"\nnodes = [64, 64, 64]\n", "paths"),
        ("[model]\nkind = \"deep\"\nnodes = [2]\nbeam = 0\n", "beam"),
        ("[model]\nkind = \"deep\"\nnodes = [2]\n", "prune_below"),
        (
            "[model]\nkind = \"deep\"\nnodes = [2]\nfirst_layer = \"a\"\nwiden_from = \"b\"\n",
            "widen_from",
        ),
        ("[model]\nkind = \"deep\"\nnodes = [2]\nfirst_layer = \"a\"\n", "em.n_init"),
        ("[model]\nkind = \"deep\"\nnodes = [2]\nfirst_layer = 3\n", "first_layer"),
    ];
    for (model, key) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let em = match key {
            "prune_below" => "prune_below = 0.01\n",
            "em.n_init" => "n_init = 2\n",
            _ => "",
        };
        std::fs::write(&path, format!("{base}{model}[em]\nmax_iter = 2\n{em}")).unwrap();
        let err = RunConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains(key), "{model}: {err}");
    }
}

/// A run's config on the shipped BSDS300 sample (63 dims): `model` is its `[model]` table.
fn sample_bsds300_run(name: &str, model: &str, max_iter: usize) -> RunConfig {
    RunConfig::parse(&format!(
        "name = \"{name}\"\nseed = 3\n[data]\ndataset = \"bsds300\"\nn_train = 3000\n\
         n_test = 500\n[model]\n{model}[em]\nmax_iter = {max_iter}\ntol = 0.0\n\
         batch_size = 1000\ninit = \"kmeans++\"\n"
    ))
    .unwrap()
}

/// `first_layer`: a network started from a trained full GMM's components. With the layers
/// above at the identity up to 1e-4, every path is one of the flat GMM's components with its
/// weight split evenly, so the network's first E-step scores the training rows as the trained
/// flat GMM does; and layer 1's nodes are exactly that GMM's means and covariance factors.
#[test]
fn a_network_starts_from_a_trained_full_gmm() {
    use gmm_zoo::training::{SavedLayer, train_run};
    let flat_dir = tempfile::tempdir().unwrap();
    let full = "kind = \"full\"\nn_components = 4\n";
    let flat =
        train_run(&sample_bsds300_run("flat", full, 10), &common::sample_options(flat_dir.path()))
            .unwrap();
    let flat_train = flat.metrics[0].train.nats_per_sample;

    let deep = format!(
        "kind = \"deep\"\nnodes = [4, 2]\ne_step = \"soft\"\ninit_noise = 1e-4\n\
         first_layer = {:?}\n",
        flat_dir.path()
    );
    let deep_dir = tempfile::tempdir().unwrap();
    let run =
        train_run(&sample_bsds300_run("deep", &deep, 2), &common::sample_options(deep_dir.path()))
            .unwrap();
    let first = run.metrics[0].iterations[0].log_likelihood;
    println!("flat GMM's train figure {flat_train}, the network's first E-step {first}");
    assert!((first - flat_train).abs() < 1e-3 * flat_train.abs(), "{first} vs {flat_train}");
    // The same network from Lloyd's k-means starts elsewhere.
    let fresh = tempfile::tempdir().unwrap();
    let cold = deep.replace(&format!("first_layer = {:?}\n", flat_dir.path()), "");
    let cold =
        train_run(&sample_bsds300_run("cold", &cold, 2), &common::sample_options(fresh.path()))
            .unwrap();
    let cold_first = cold.metrics[0].iterations[0].log_likelihood;
    assert!((cold_first - flat_train).abs() > 10.0 * (first - flat_train).abs(), "{cold_first}");

    // Layer 1 before EM: b_j = μ_j and A_j A_jᵀ = Σ_j of the trained GMM.
    let (_, layer) = SavedLayer::load(flat_dir.path(), &device()).unwrap();
    let Layer::Full(trained) = layer else { panic!("not a full layer") };
    let d = trained.dim();
    let means = trained.means_host().unwrap();
    let cov = trained.covariances_host().unwrap();
    let cfg = DeepGmmConfig { init_noise: 1e-4, ..config(&[4, 2], PathAssignment::Soft, 1) };
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let network = cfg.init(d, &device()).unwrap().starting_from(&trained, &mut rng).unwrap();
    let nodes = network.nodes_host().unwrap();
    for j in 0..4 {
        let a = &nodes.a[j * d * d..(j + 1) * d * d];
        for (t, m) in means[j].iter().enumerate() {
            assert!((nodes.b[j * d + t] - m).abs() <= 1e-6 * m.abs().max(1e-3), "b of node {j}");
        }
        for r in 0..d {
            for c in 0..d {
                let aat: f64 = (0..d).map(|t| a[r * d + t] * a[c * d + t]).sum();
                let want = cov[j][r * d + c];
                assert!((aat - want).abs() <= 1e-4 * want.abs().max(1e-6), "Σ of node {j}");
            }
        }
    }
}

/// A `first_layer` that is missing, not a full GMM, or of another size is refused with the
/// file and the reason.
#[test]
fn a_first_layer_that_does_not_fit_is_refused() {
    use gmm_zoo::training::train_run;
    let conv_dir = tempfile::tempdir().unwrap();
    let quick = RunConfig::parse(
        "name = \"c\"\nseed = 1\n[data]\ndataset = \"bsds\"\npatch_size = 6\nn_train = 500\n\
         n_test = 50\n[model]\nkind = \"conv\"\nn_components = 2\n[em]\nmax_iter = 1\n",
    )
    .unwrap();
    train_run(&quick, &common::sample_options(conv_dir.path())).unwrap();
    let flat_dir = tempfile::tempdir().unwrap();
    let full = "kind = \"full\"\nn_components = 3\n";
    train_run(&sample_bsds300_run("flat", full, 1), &common::sample_options(flat_dir.path()))
        .unwrap();
    let missing = flat_dir.path().join("nowhere");
    let cases = [
        (missing.clone(), 3, "nowhere"),
        (conv_dir.path().to_path_buf(), 3, "`conv` layer"),
        (flat_dir.path().to_path_buf(), 4, "first_layer"),
    ];
    for (dir, n1, says) in cases {
        let deep = format!("kind = \"deep\"\nnodes = [{n1}, 2]\nfirst_layer = {dir:?}\n");
        let out = tempfile::tempdir().unwrap();
        let err =
            train_run(&sample_bsds300_run("d", &deep, 1), &common::sample_options(out.path()))
                .unwrap_err()
                .to_string();
        println!("{err}");
        assert!(err.contains(says), "{err}");
    }
}

/// `widen_from`, at the level of the model: node j of a widened layer copies node `j / f`
/// of the narrower network, the two copies of a node are perturbed antithetically (their mean
/// is the node, their difference grows with `init_noise`), a layer that is not widened keeps
/// its nodes exactly, every path's weight is its source path's over `f`, and with a vanishing
/// `init_noise` the density is the narrower network's.
#[test]
fn a_widened_network_copies_the_narrower_ones_nodes() {
    let d = 5;
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let (params, weights) = random_network(&[3, 2], d, &mut rng);
    let narrow_cfg = config(&[3, 2], PathAssignment::Soft, 1);
    let narrow = DeepGmm::from_parts(&params, &weights, &narrow_cfg, &device()).unwrap();
    let x: Vec<f32> = (0..40 * d).map(|_| rng.random_range(-5.0..5.0)).collect();
    let before = to_host_f64(narrow.score_samples(rows(&x, d))).unwrap();
    let src = narrow.nodes_host().unwrap();
    for noise in [1e-6, 0.1] {
        let cfg = DeepGmmConfig { init_noise: noise, ..config(&[3, 4], PathAssignment::Soft, 1) };
        let wide = cfg.init(d, &device()).unwrap().widening(&narrow, &mut rng).unwrap();
        let nodes = wide.nodes_host().unwrap();
        let (dd, f32_tol) = (d * d, |v: f64| 1e-6 * v.abs().max(1.0));
        // Layer 1 (nodes 0..3) is not widened: the same nodes, to f32.
        for t in 0..3 * dd {
            assert!((nodes.a[t] - src.a[t]).abs() <= f32_tol(src.a[t]), "layer 1, A[{t}]");
        }
        for t in 0..3 * d {
            assert!((nodes.b[t] - src.b[t]).abs() <= f32_tol(src.b[t]), "layer 1, b[{t}]");
        }
        // Layer 2: nodes 3, 4 are node 3's pair, 5, 6 node 4's.
        let mut spread = 0f64;
        for (pair, source) in [(3, 3), (5, 4)] {
            for t in 0..dd {
                let (p, q) = (nodes.a[pair * dd + t], nodes.a[(pair + 1) * dd + t]);
                let want = src.a[source * dd + t];
                assert!(((p + q) / 2.0 - want).abs() <= 1e-5, "pair {pair}: mean A[{t}]");
                spread = spread.max((p - q).abs());
            }
            for t in 0..d {
                let (p, q) = (nodes.b[pair * d + t], nodes.b[(pair + 1) * d + t]);
                let want = src.b[source * d + t];
                assert!(((p + q) / 2.0 - want).abs() <= 1e-5 * want.abs().max(1.0), "mean b");
            }
        }
        println!("init_noise {noise}: the largest difference within a pair {spread:.2e}");
        assert!(spread > noise / 10.0 && spread < 100.0 * noise, "{spread} for {noise}");
        // Path (j1, j2) of 3 × 4 comes from (j1, j2 / 2) of 3 × 2, with half its weight.
        let w = wide.weights().unwrap();
        for (p, wp) in w.iter().enumerate() {
            let q = (p / 4) * 2 + (p % 4) / 2;
            assert!((wp - weights[q] / 2.0).abs() <= 1e-6 * weights[q], "path {p}");
        }
        let after = to_host_f64(wide.score_samples(rows(&x, d))).unwrap();
        let gap = before.iter().zip(&after).map(|(a, b)| (a - b).abs()).fold(0f64, f64::max);
        println!("init_noise {noise}: the largest change of a row's log-density {gap:.2e}");
        if noise < 1e-3 {
            assert!(gap < 1e-3, "{gap}");
        } else {
            assert!(gap > 1e-3, "{gap}: the perturbation moves the density");
        }
    }
}

/// `widen_from` through a run: a network trained on the sample, then widened from its
/// folder (`[3, 2]` → `[3, 4]`, `init_noise = 1e-5`): the wider network's first E-step scores
/// the training rows as the trained one did, and EM goes on from there; a folder that holds
/// another kind, a network whose nodes do not divide these, and `widen_from` beside a warm start
/// are refused, naming the file or key.
#[test]
fn a_run_widens_a_trained_network() {
    use gmm_zoo::training::train_run;
    let narrow_dir = tempfile::tempdir().unwrap();
    let narrow = "kind = \"deep\"\nnodes = [3, 2]\ne_step = \"soft\"\n";
    let trained = train_run(
        &sample_bsds300_run("narrow", narrow, 4),
        &common::sample_options(narrow_dir.path()),
    )
    .unwrap();
    let trained_train = trained.metrics[0].train.nats_per_sample;
    let wide = format!(
        "kind = \"deep\"\nnodes = [3, 4]\ne_step = \"soft\"\ninit_noise = 1e-5\n\
         widen_from = {:?}\n",
        narrow_dir.path()
    );
    let wide_dir = tempfile::tempdir().unwrap();
    let run =
        train_run(&sample_bsds300_run("wide", &wide, 3), &common::sample_options(wide_dir.path()))
            .unwrap();
    let its = &run.metrics[0].iterations;
    let first = its[0].log_likelihood;
    println!(
        "trained [3, 2]: {trained_train}; widened [3, 4], first E-step {first}, then {:?}",
        its.iter().map(|i| i.log_likelihood).collect::<Vec<_>>()
    );
    assert!((first - trained_train).abs() < 1e-4 * trained_train.abs(), "{first}");
    assert!(its.windows(2).all(|w| w[1].log_likelihood >= w[0].log_likelihood - 1e-6));

    let flat_dir = tempfile::tempdir().unwrap();
    let full = "kind = \"full\"\nn_components = 3\n";
    train_run(&sample_bsds300_run("flat", full, 1), &common::sample_options(flat_dir.path()))
        .unwrap();
    let cases = [
        (format!("nodes = [3, 4]\nwiden_from = {:?}\n", flat_dir.path()), "`full` layer"),
        (format!("nodes = [2, 4]\nwiden_from = {:?}\n", narrow_dir.path()), "divisor"),
        (format!("nodes = [3, 2, 2]\nwiden_from = {:?}\n", narrow_dir.path()), "as many layers"),
    ];
    for (model, says) in cases {
        let out = tempfile::tempdir().unwrap();
        let config = sample_bsds300_run("w", &format!("kind = \"deep\"\n{model}"), 1);
        let err = train_run(&config, &common::sample_options(out.path())).unwrap_err().to_string();
        println!("{err}");
        assert!(err.contains(says) && err.contains("model.toml"), "{err}");
    }
    let warm = RunConfig::parse(&format!(
        "name = \"w\"\n[data]\ndataset = \"bsds300\"\nn_train = 3000\nn_test = 500\n[model]\n\
         kind = \"deep\"\nnodes = [3, 4]\nwiden_from = {:?}\n[em]\nmax_iter = 1\nwarm_start = {:?}\n",
        narrow_dir.path(),
        wide_dir.path()
    ));
    let err = warm.map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("widen_from"), "{err}");
}
