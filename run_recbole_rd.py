"""Train and test a model: python run_recbole_rd.py --model=CaserRD --dataset=foursquare-sample"""

from recbole_rd.quick_start.cli import main

if __name__ == "__main__":
    main()
