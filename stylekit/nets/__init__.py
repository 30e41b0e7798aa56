"""The trained networks: trained once, then one forward pass per picture.

    johnson    style networks (Johnson et al. 2016) and texture networks (Ulyanov et al. 2016)
    adain      arbitrary style with one decoder (Huang and Belongie 2017): model, train, infer, styles
    training   the one training loop (checkpoints, resume, bf16, DDP) and the network files
    crops      random square crops of a folder of images, reproducible by index
    photos     the offline training photos, built from packages
    packages   fetching and unpacking those packages, and writing image sets

Their commands are in stylekit.cli (fast, adain, photos); nothing here imports the command line.
"""
