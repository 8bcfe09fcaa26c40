"""Two optimizers stepping each iteration (a GAN's discriminator, then its generator)."""
import sys

import torch
from torch import nn

torch.manual_seed(0)
steps = int(sys.argv[1])
generator, discriminator = nn.Linear(4, 8), nn.Linear(8, 1)
opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-3)
opt_g = torch.optim.SGD(generator.parameters(), lr=1e-3)
real = torch.randn(16, 8)
for i in range(steps):
    opt_d.zero_grad()
    fake = generator(torch.randn(16, 4)).detach()
    loss_d = discriminator(fake).mean() - discriminator(real).mean()
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    loss_g = -discriminator(generator(torch.randn(16, 4))).mean()
    loss_g.backward()
    opt_g.step()
    print("loss", i, repr(float(loss_d.detach())), repr(float(loss_g.detach())))
