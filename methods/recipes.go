package methods

import (
	"github.com/mmfusion/bench/bench"
	"github.com/mmfusion/bench/bench/store"
)

// Reference recipes (--recipe reference): each method's own training settings, from the "Defaults"
// row of its section of methods.md, which quotes its reference code. The first row of a method is
// the one used for a dataset no row names (the record says which it took). A value a reference does
// not give is kept from the shared protocol and noted in the record.
func init() {
	stepLR70 := &store.Schedule{Kind: "step", StepSize: 70, Gamma: 0.1}
	ogmSGD := bench.ReferenceRecipe{Optimizer: "sgd", Momentum: 0.9, WD: 1e-4, WDSet: true, Schedule: stepLR70, Init: bench.InitXavierNormal}

	joint := ogmSGD
	joint.Source, joint.Datasets = "GeWu-Lab/OGM-GE_CVPR2022 main.py, Normal mode, CREMA-D (methods.md §1, §3.4)", []string{"cremad"}
	joint.LR, joint.BatchSize, joint.Epochs = 1e-3, 64, 100
	bench.RegisterRecipe("joint", joint)

	ogm := joint
	ogm.Source = "GeWu-Lab/OGM-GE_CVPR2022 main.py + README, CREMA-D (methods.md §3.4)"
	bench.RegisterRecipe("ogm", ogm)

	pmr := ogmSGD
	pmr.Source, pmr.Datasets = "fanyunfeng-bit/Modal-Imbalance-PMR main_Prototype_grad.py argparse, CREMA-D (methods.md §4.4)", []string{"cremad"}
	pmr.LR, pmr.BatchSize, pmr.Epochs = 1e-4, 64, 150
	bench.RegisterRecipe("pmr", pmr)
	bench.RegisterRecipe("pmr-per", pmr)

	agmCremad := ogmSGD
	agmCremad.Source, agmCremad.Datasets = "lihong2303/AGM run/CREMAD_main.py argparse, CREMA-D (methods.md §5.1)", []string{"cremad"}
	agmCremad.LR = 1e-5
	agmAVMNIST := ogmSGD
	agmAVMNIST.Source, agmAVMNIST.Datasets = "lihong2303/AGM README, AV-MNIST example (methods.md §5.1)", []string{"avmnist"}
	agmAVMNIST.LR, agmAVMNIST.BatchSize, agmAVMNIST.Epochs = 1e-4, 64, 100
	bench.RegisterRecipe("agm", agmCremad, agmAVMNIST)

	mlbCremad := bench.ReferenceRecipe{Source: "kkontras/MLB configs CREMA-D MLB.json (methods.md §5.2)", Datasets: []string{"cremad"},
		Optimizer: "adam", LR: 1e-4, WD: 1e-4, WDSet: true, BatchSize: 32}
	mlbUCF := mlbCremad
	mlbUCF.Source, mlbUCF.Datasets, mlbUCF.LR = "kkontras/MLB configs AVE/UCF101 MLB.json (methods.md §5.2)", []string{"ucf101"}, 1e-3
	bench.RegisterRecipe("mlb", mlbCremad, mlbUCF)

	bench.RegisterRecipe("mmtm", bench.ReferenceRecipe{
		Source:    "haamoon/mmtm main_mmtm_ntu.py (NTU RGB+D)",
		Datasets:  []string{"ntu"},
		Optimizer: "adam", LR: 1e-4, WD: 1e-4, WDSet: true, BatchSize: 20, Epochs: 70,
		// update_lr(×0.1) on both optimisers at the start of 0-based epochs 5 and 20: epochs 1–5 at
		// 1e-4, 6–20 at 1e-5, 21–70 at 1e-6.
		Schedule:  &store.Schedule{Kind: "multistep", Milestones: []int{5, 20}, Gamma: 0.1},
		Alternate: true,
		Notes: []string{"alternating per-branch steps as the reference: on every batch a forward and CE(ℓ¹) stepping one Adam over " +
			"encoder 1, head 1 and every MMTM module, then a fresh forward and CE(ℓ²) stepping a second Adam (its own state) over " +
			"encoder 2, head 2 and every MMTM module; the fused mean of the logits is only predicted (the loss parameter does not apply)",
			"model selection by validation accuracy, the harness's (the reference keeps the lowest validation loss)",
			"encoders from scratch (the reference loads pretrained unimodal visual and skeleton nets)",
			"a variable a sub-step's loss does not reach gets no gradient and is not stepped (zero_grad to None, PyTorch ≥ 2); the reference's PyTorch 1.x zeroed in place, so its Adam still moved such variables"},
	})

	mib := bench.ReferenceRecipe{Source: "TmacMai/Multimodal-Information-Bottleneck main_mib.py + cmib.py, MOSI (methods.md §7.2)",
		Datasets: []string{"mosei"}, Optimizer: "adam", LR: 2e-5, WD: 0, WDSet: true, BatchSize: 32, Epochs: 50,
		Notes: []string{"lr 2e-5 of the in-model optimiser of the non-BERT parameters (no BERT here); weight decay 0, PyTorch Adam's default (the reference sets none)"}}
	for _, name := range []string{"mib", "mib-early", "mib-late"} {
		bench.RegisterRecipe(name, mib)
	}

	bench.RegisterRecipe("qmf", bench.ReferenceRecipe{
		Source:    "QingyangZhang/QMF RGBD-scene-recognition/train_QMF_nyud2.py, NYUD2 (methods.md §8.4)",
		Datasets:  []string{"nyud2"},
		Optimizer: "adam", LR: 1e-4, WD: 1e-5, WDSet: true, BatchSize: 256, Epochs: 500, EarlyStop: 20,
		Schedule: &store.Schedule{Kind: "plateau", Monitor: "val_acc", Factor: 0.3, Patience: 10},
		Notes:    []string{"batch 256 without the reference's gradient accumulation of 3 (an effective batch of 768)"},
	})

	bench.RegisterRecipe("mmml", bench.ReferenceRecipe{
		Source:    "zehuiwu/MMML run.py, MOSI/MOSEI (methods.md §9.2)",
		Datasets:  []string{"mosei"},
		Optimizer: "adamw", LR: 5e-6, WD: 0.01, WDSet: true, BatchSize: 8, Epochs: 20, EarlyStop: 8,
		Notes: []string{"weight decay 0.01, PyTorch AdamW's default (the reference sets none)",
			"early stopping on validation accuracy, the harness's selection metric (the reference stops on validation loss)"},
	})

	// train_test.py, ROSMAP branch: Adam(lr 1e-4, weight_decay 1e-4), StepLR(step_size 500, gamma 0.2)
	// stepped after every epoch, one full-batch step per epoch over range(num_epoch+1) = 1001 epochs;
	// model.py initialises every Linear Xavier-normal with zero bias. (BRCA: 2500+1 epochs, same
	// rest; the harness has no BRCA.)
	bench.RegisterRecipe("mmdynamic", bench.ReferenceRecipe{
		Source:    "TencentAILabHealthcare/mmdynamics train_test.py + model.py, ROSMAP (methods-beyond.md §3.4)",
		Datasets:  []string{"rosmap"},
		Optimizer: "adam", LR: 1e-4, WD: 1e-4, WDSet: true, BatchSize: 245, Epochs: 1001,
		Schedule: &store.Schedule{Kind: "step", StepSize: 500, Gamma: 0.2},
		Init:     bench.InitXavierNormal,
		Notes: []string{"batch 245 = the reference's whole ROSMAP training set (full batch, one step per epoch); the harness's ROSMAP training split (validation carved out) fits in one such batch",
			"1001 epochs: train_test.py loops over range(num_epoch+1) with num_epoch 1000",
			"model selection by validation accuracy, the harness's (the reference keeps the final model and evaluates on the test set every 50 epochs)",
			"on the harness's shared encoders' pooled features, trained with them (the reference feeds min-max-scaled omics views to the model alone)"},
	})

	dmil := bench.ReferenceRecipe{
		Source:    "bjlfzs/DMIL cfgs/train.yaml, optimizer/SGD.yaml, methods/DMIL.yaml, CREMA-D (methods.md §0.3, §10.4)",
		Datasets:  []string{"cremad"},
		Optimizer: "sgd", LR: 4e-3, Momentum: 0.9, WD: 1e-4, WDSet: true, BatchSize: 64, Epochs: 70,
		Stages: []store.StageConfig{
			{LR: 4e-3, Schedule: &store.Schedule{Kind: "plateau", Monitor: "val_loss", Factor: 0.2, Patience: 2}},
			{LR: 1e-3, Schedule: &store.Schedule{Kind: "plateau", Monitor: "val_loss", Factor: 0.1, Patience: 1}},
			{LR: 1e-5, Schedule: &store.Schedule{Kind: "plateau", Monitor: "val_loss", Factor: 0.1, Patience: 10}},
		},
		Notes: []string{"stage lengths are dmi.stage1_epochs / stage2_epochs (10 and 5, the reference's, by default); encoders from scratch (the reference's are ImageNet-pretrained)"},
	}
	bench.RegisterRecipe("dmi", dmil)
	bench.RegisterRecipe("dmi-fc", dmil)
	ablation := dmil
	ablation.Stages = nil
	ablation.Schedule = dmil.Stages[0].Schedule
	ablation.Notes = []string{"single-stage ablation: DMIL's stage-1 settings for every epoch [our reading; the reference gives no ablation config]"}
	bench.RegisterRecipe("dmi-td", ablation)
	bench.RegisterRecipe("dmi-cd", ablation)
	bench.RegisterRecipe(dmiTDMName, dmil) // staged like dmi: DMIL's three stages [our reading, no reference]

	// scenic projects/mbt configs/audioset/balanced_audioset_base.py (methods-beyond.md §1.5): SGD
	// momentum 0.9, base lr 0.5, l2 0, batch 64, 50 epochs; its cosine decay with a 2.5-epoch linear
	// warm-up and gradient-norm clipping at 1 have no counterpart in the harness's schedules.
	bench.RegisterRecipe("mbt", bench.ReferenceRecipe{
		Source:    "google-research/scenic projects/mbt configs/audioset/balanced_audioset_base.py, AudioSet (methods-beyond.md §1.5)",
		Datasets:  []string{"audioset"},
		Optimizer: "sgd", LR: 0.5, Momentum: 0.9, WD: 0, WDSet: true, BatchSize: 64, Epochs: 50,
		Notes: []string{"constant lr 0.5: the reference's cosine decay with a 2.5-epoch linear warm-up is not a harness schedule, and its gradient-norm clipping at 1 is not applied",
			"no label smoothing (0.3), mixup (0.5) or stochastic depth (0.3), as for every method of the harness",
			"streams from scratch (the reference copies a ViT-B/16 checkpoint into every stream); softmax cross-entropy (the reference's AudioSet loss is multi-label sigmoid)"},
	})

	bench.RegisterNoRecipe("ensemble", "UME has no official code (methods.md §2)")
	bench.RegisterNoRecipe("cen", "no classification code exists (yikaiw/CEN issue #5, methods-beyond.md §2.1); the released recipe trains RefineNet segmentation (batch 6, frozen BN, three 100-epoch stages with separate encoder and decoder rates) and does not transfer")
	bench.RegisterNoRecipe("uni-1", "a unimodal baseline of this harness")
	bench.RegisterNoRecipe("uni-2", "a unimodal baseline of this harness")
	bench.RegisterNoRecipe("uni-3", "a unimodal baseline of this harness")
}
