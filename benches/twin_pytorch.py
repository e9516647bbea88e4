"""The twin's CNN-LSTM (seed Table 2, as built in twin/src/nn.rs) in PyTorch, timed the same
way as `cargo run --release -p twin --example step_bench`: one Adam train step at batch 64
(mean of 10 after a warm-up) and inference on 1,000 windows (96 steps x 9 features).

Run by benches/vs_pytorch.sh; prints one line per architecture in the Rust example's format.
"""
import sys
import time

import torch
from torch import nn

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(THREADS)
torch.manual_seed(1)
F, T, N = 9, 96, 1000


class CnnLstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv1d(F, 64, k, padding=k // 2), nn.BatchNorm1d(64), nn.ReLU()) for k in (3, 5, 7)
        )
        self.lstm1 = nn.LSTM(192, 128, batch_first=True)
        self.lstm2 = nn.LSTM(128, 64, batch_first=True)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 2)

    def forward(self, x):
        xt = x.transpose(1, 2)
        c = torch.cat([b(xt) for b in self.convs], 1).transpose(1, 2)
        h, _ = self.lstm1(c)
        h = nn.functional.dropout(h, 0.3, self.training)
        o, _ = self.lstm2(h)
        z = nn.functional.dropout(o[:, -1], 0.3, self.training)
        return self.fc2(torch.relu(self.fc1(z)))


class Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm1 = nn.LSTM(F, 128, batch_first=True)
        self.lstm2 = nn.LSTM(128, 64, batch_first=True)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 2)

    def forward(self, x):
        h, _ = self.lstm1(x)
        h = nn.functional.dropout(h, 0.3, self.training)
        o, _ = self.lstm2(h)
        z = nn.functional.dropout(o[:, -1], 0.3, self.training)
        return self.fc2(torch.relu(self.fc1(z)))


# The same deterministic pseudo-data as the Rust example.
x = torch.tensor([((i * 7919) % 1000) / 500.0 - 1.0 for i in range(N * T * F)], dtype=torch.float32).reshape(N, T, F)
y = torch.tensor([((i * 31) % 100) / 50.0 for i in range(N * 2)], dtype=torch.float32).reshape(N, 2)
for name, cls in (("cnn_lstm", CnnLstm), ("lstm", Lstm)):
    m = cls()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    xb, yb = x[:64], y[:64]

    def step():
        m.train()
        opt.zero_grad()
        loss = nn.functional.mse_loss(m(xb), yb)
        loss.backward()
        opt.step()

    step()
    t = time.perf_counter()
    reps = 10
    for _ in range(reps):
        step()
    step_ms = (time.perf_counter() - t) * 1e3 / reps
    m.eval()
    with torch.no_grad():
        m(x)
        t = time.perf_counter()
        m(x)
        inf_ms = (time.perf_counter() - t) * 1e3
    params = sum(p.numel() for p in m.parameters())
    print(f"{name:9} params {params:7}  train step (batch 64): {step_ms:8.1f} ms   inference 1000 windows: {inf_ms:8.1f} ms")
