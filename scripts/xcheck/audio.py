"""Reference outputs for the CREMA-D audio pipeline (datasets.TestXCheckAudio).

usage: audio.py OUTDIR

Writes a few short mono PCM16 WAVs of deterministic test media (numpy RNG, fixed seed) and, for
each NAME.wav, what the reference code (OGM-GE's CREMA-D loader) computes from it with librosa:

  NAME.spec.npy  float32 [257, 188]: librosa.load(path, sr=22050) (resampler soxr_hq), np.tile x3,
                 first 3 s (66,150 samples), clipped to [-1, 1], librosa.stft(n_fft=512,
                 hop_length=353) (periodic Hann, center=True, zero padding), log(|S| + 1e-7)
  NAME.wave.npy  float32 [WAVE_SAMPLES]: librosa.load's output (the resampled waveform, to compare
                 before the STFT) from sample len//2 - WAVE_SAMPLES//2 on: the end of the chirp,
                 where it nears Nyquist, and the start of the white noise

plus versions.txt (the library versions that produced them). Each clip is a sequence of segments:
speech-like voiced sound (glottal pulse train gliding in pitch through formant resonators, with a
fricative noise burst), a linear chirp up to 0.99 of the file's Nyquist frequency, amplitude-
modulated white noise, and a sum of steady tones including ones close to Nyquist: the resampler's
passband edge, transition band and imaging/aliasing all show in the spectrogram.
"""
import os
import sys
import wave

import librosa
import numpy as np
import scipy
import scipy.signal
import soxr

SR = 22050
WAVE_SAMPLES = 4096  # resampled-waveform excerpt kept per file (small fixtures)

# (name, rate, seconds): CREMA-D's 16 kHz (upsampled), 44.1 kHz (downsampled), 22.05 kHz (no resampling)
CLIPS = [("mix16k", 16000, 1.5), ("mix44k", 44100, 1.2), ("mix22k", 22050, 1.0)]


def speech_like(rng, rate, n):
    """Voiced vowel-like sound with a pitch glide and formants, then a fricative burst."""
    t = np.arange(n) / rate
    f0 = 120 + 80 * np.sin(2 * np.pi * 1.3 * t / max(t[-1], 1e-9))  # 40..200 Hz glide
    phase = 2 * np.pi * np.cumsum(f0) / rate
    # Band-limited pulse train: harmonics up to 0.95 of Nyquist, -6 dB/octave tilt.
    x = np.zeros(n)
    kmax = int(0.95 * rate / 2 / f0.min())
    for k in range(1, kmax + 1):
        alive = k * f0 < 0.95 * rate / 2
        x += alive * np.sin(k * phase) / k
    # Formants (vowel /a/-like) as second-order resonators in series.
    for fc, bw in [(700, 110), (1220, 120), (2600, 160), (3300, 250)]:
        r = np.exp(-np.pi * bw / rate)
        a = [1, -2 * r * np.cos(2 * np.pi * fc / rate), r * r]
        x = scipy.signal.lfilter([1 - r], a, x)
    x *= np.hanning(n) ** 0.3
    x = 0.4 * x / np.abs(x).max()
    # Fricative: noise high-passed at 0.4 of Nyquist, in the last quarter.
    m = n // 4
    b, a = scipy.signal.butter(4, 0.4, btype="high")
    fric = scipy.signal.lfilter(b, a, rng.standard_normal(m)) * np.hanning(m)
    x[-m:] += 0.15 * fric / np.abs(fric).max()
    return x


def chirp(rate, n):
    t = np.arange(n) / rate
    return 0.3 * scipy.signal.chirp(t, f0=20, t1=t[-1], f1=0.99 * rate / 2, method="linear")


def noise(rng, rate, n):
    t = np.arange(n) / rate
    env = 0.55 + 0.45 * np.sin(2 * np.pi * 5 * t)
    return 0.12 * env * rng.standard_normal(n)


def tones(rate, n):
    t = np.arange(n) / rate
    nyq = rate / 2
    freqs = [440, 3000, 0.7 * nyq, 0.9 * nyq, 0.95 * nyq, 0.98 * nyq]
    return sum(0.06 * np.sin(2 * np.pi * f * t + k) for k, f in enumerate(freqs))


def clip(rng, rate, seconds):
    n = int(round(rate * seconds))
    cuts = np.linspace(0, n, 5).round().astype(int)
    parts = [speech_like(rng, rate, cuts[1] - cuts[0]), chirp(rate, cuts[2] - cuts[1]),
             noise(rng, rate, cuts[3] - cuts[2]), tones(rate, cuts[4] - cuts[3])]
    x = np.concatenate(parts)
    return np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")


def write_wav(path, rate, pcm):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def ogm_spectrogram(path):
    """OGM-GE's CREMA-D audio transform, as its dataset code computes it."""
    samples, rate = librosa.load(path, sr=SR)
    resamples = np.tile(samples, 3)[:SR * 3]
    resamples[resamples > 1.] = 1.
    resamples[resamples < -1.] = -1.
    spectrogram = librosa.stft(resamples, n_fft=512, hop_length=353)
    spectrogram = np.log(np.abs(spectrogram) + 1e-7)
    return samples, spectrogram


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(13)
    for name, rate, seconds in CLIPS:
        wav = os.path.join(out, name + ".wav")
        write_wav(wav, rate, clip(rng, rate, seconds))
        samples, spec = ogm_spectrogram(wav)
        assert spec.shape == (257, 188), spec.shape
        np.save(os.path.join(out, name + ".spec.npy"), np.ascontiguousarray(spec, dtype=np.float32))
        start = len(samples) // 2 - WAVE_SAMPLES // 2
        np.save(os.path.join(out, name + ".wave.npy"), samples[start:start + WAVE_SAMPLES].astype(np.float32))
        print(f"audio.py: {name}: {rate} Hz, {seconds} s -> {len(samples)} samples at {SR} Hz", file=sys.stderr)
    with open(os.path.join(out, "versions.txt"), "w") as f:
        f.write(f"librosa {librosa.__version__}\nsoxr {soxr.__version__}\nnumpy {np.__version__}\n"
                f"scipy {scipy.__version__}\nresampler soxr_hq (librosa.load default)\n")


if __name__ == "__main__":
    main()
